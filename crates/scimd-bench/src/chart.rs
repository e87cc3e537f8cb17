//! SVG charts of results: grouped bars of ops/s per scenario (one bar per
//! target, log scale), and cost per operation as the tenant's users grow
//! (one line per scenario, both axes log scale).
//!
//! Written by hand rather than with `plotters`: SVG is text, and two fixed
//! chart kinds are ~700 lines with the JSON reading. `plotters` 0.3.7 with
//! default features off and only `svg_backend` + `line_series` was measured
//! (2026-12-07, 2 cores): 4 more crates (plotters, plotters-backend,
//! plotters-svg, num-traits), `cargo tree -p scimd-bench -e normal` 200 -> 205
//! lines, ~22,500 lines of Rust, 3.7 s debug / 4.4 s release to build those
//! crates clean. Small, but it has no ready grouped-bar chart: the slots, the
//! error and missing marks, the decade labels and the legend would still be
//! ours.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write;

pub(crate) const WIDTH: f64 = 900.0;
pub(crate) const HEIGHT: f64 = 500.0;

const PALETTE: &[&str] =
    &["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
const BARE_COLOR: &str = "#9a9a9a";
const ERROR_COLOR: &str = "#d00000";

/// The scenarios compared with the bare route (as in the ratios of `compare`).
pub(crate) const BARE_LIKE: &[&str] =
    &["get_by_id", "filter_username", "list_page_100", "list_page_deep", "group_get_excluded_members"];

/// The scenarios of the scale chart, by default.
pub(crate) const SCALE_SCENARIOS: &[&str] =
    &["get_by_id", "filter_username", "list_page_100", "seed_users", "patch_active"];

/// What one series has at one point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Slot {
    /// The series has no bar here and none is expected (the bare route beside a write).
    NotApplicable,
    /// Expected but not measured (the peer did not run this scenario).
    Missing,
    /// Measured: the value, and the scenario's errors.
    Value { value: f64, errors: u64 },
}

pub(crate) struct Series {
    pub name: String,
    pub color: String,
    /// One slot per group (bar chart) or per x (line chart).
    pub slots: Vec<Slot>,
}

pub(crate) struct BarChart {
    pub title: String,
    pub subtitle: String,
    pub groups: Vec<String>,
    pub series: Vec<Series>,
}

pub(crate) struct LineChart {
    pub title: String,
    pub subtitle: String,
    pub y_label: String,
    pub unit: Unit,
    /// Users of each run, ascending.
    pub xs: Vec<f64>,
    pub series: Vec<Series>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Metric {
    /// The server's CPU time per operation, in microseconds (needs the server's pid in the run).
    ServerUs,
    /// The median latency, in milliseconds.
    P50Ms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Micros,
    Millis,
}

/// A logarithmic axis over whole decades, 10^lo to 10^hi.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogAxis {
    pub lo: i32,
    pub hi: i32,
}

impl LogAxis {
    /// The smallest run of whole decades holding every positive, finite value (0..1 when there is none).
    pub(crate) fn covering(values: impl IntoIterator<Item = f64>) -> LogAxis {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
            min = min.min(v);
            max = max.max(v);
        }
        if !min.is_finite() {
            return LogAxis { lo: 0, hi: 1 };
        }
        // The small slack keeps an exact power of ten (1000) on its own decade line.
        let lo = ((min.log10() + 1e-9).floor() as i32).clamp(-6, 14);
        let hi = ((max.log10() - 1e-9).ceil() as i32).clamp(-6, 15);
        LogAxis { lo, hi: hi.max(lo + 1) }
    }

    /// Where `v` falls, from 0 (10^lo) to 1 (10^hi); `None` for values with no logarithm (0, negative, NaN).
    pub(crate) fn frac(&self, v: f64) -> Option<f64> {
        if !(v.is_finite() && v > 0.0) {
            return None;
        }
        Some(((v.log10() - f64::from(self.lo)) / f64::from(self.hi - self.lo)).clamp(0.0, 1.0))
    }
}

/// 10^k as the axis shows it: 0.01, 0.1, 1, 10, 100, 1k, 10k, 100k, 1M, ...
pub(crate) fn decade_label(k: i32) -> String {
    let digits = |n: i32| format!("1{}", "0".repeat(usize::try_from(n).unwrap_or(0)));
    match k {
        i32::MIN..=-1 => format!("0.{}1", "0".repeat(usize::try_from(-k - 1).unwrap_or(0))),
        0..=2 => digits(k),
        3..=5 => format!("{}k", digits(k - 3)),
        6..=8 => format!("{}M", digits(k - 6)),
        _ => format!("{}G", digits(k - 9)),
    }
}

/// A count of users as the x axis shows it: 10k, 250k, 1M, 1.5M.
pub(crate) fn users_label(n: f64) -> String {
    let short = |v: f64, suffix: &str| {
        if (v - v.round()).abs() < 1e-9 { format!("{v:.0}{suffix}") } else { format!("{v:.1}{suffix}") }
    };
    if n >= 1e6 {
        short(n / 1e6, "M")
    } else if n >= 1e3 {
        short(n / 1e3, "k")
    } else {
        format!("{n:.0}")
    }
}

/// A measured value with its unit, to about three significant digits.
pub(crate) fn value_label(v: f64, unit: Unit) -> String {
    let num = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        }
    };
    match unit {
        Unit::Micros if v >= 1000.0 => format!("{} ms", num(v / 1000.0)),
        Unit::Micros => format!("{} µs", num(v)),
        Unit::Millis if v < 1.0 => format!("{} µs", num(v * 1000.0)),
        Unit::Millis => format!("{} ms", num(v)),
    }
}

/// An ops/s figure with thousands separators (45,579; 8.3; 0.70).
pub(crate) fn ops_label(v: f64) -> String {
    if v >= 1000.0 {
        let s = format!("{v:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Text made safe for SVG element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn open(title: &str, subtitle: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(out, r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##);
    // A long heading gets a smaller font, so that it fits the width (bold sans: ~0.6 em a character).
    let size = (((WIDTH - 32.0) / (0.6 * title.chars().count().max(1) as f64)).floor()).clamp(10.0, 16.0);
    let _ = writeln!(out, r#"<text x="16" y="24" font-size="{size}" font-weight="bold">{}</text>"#, esc(title));
    let _ = writeln!(out, r##"<text x="16" y="42" font-size="12" fill="#444444">{}</text>"##, esc(subtitle));
    out
}

/// Horizontal grid lines and labels of a log y axis over `top..bottom`.
fn y_axis(
    out: &mut String,
    axis: LogAxis,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    label: &dyn Fn(i32) -> String,
) {
    let span = f64::from(axis.hi - axis.lo);
    for k in axis.lo..=axis.hi {
        let y = bottom - f64::from(k - axis.lo) / span * (bottom - top);
        let _ = writeln!(out, r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#d0d0d0"/>"##);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            left - 6.0,
            y + 4.0,
            esc(&label(k))
        );
        if k < axis.hi {
            for m in [2.0f64, 5.0] {
                let ym = y - m.log10() / span * (bottom - top);
                let _ =
                    writeln!(out, r##"<line x1="{left}" y1="{ym:.1}" x2="{right}" y2="{ym:.1}" stroke="#eeeeee"/>"##);
            }
        }
    }
    let _ = writeln!(out, r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333333"/>"##);
    let _ = writeln!(out, r##"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333333"/>"##);
}

/// Grouped bars: per group (scenario) one bar per series that applies, log scale.
pub(crate) fn bar_svg(c: &BarChart) -> String {
    let (left, right, top, bottom) = (64.0, WIDTH - 16.0, 80.0, HEIGHT - 128.0);
    let values = c.series.iter().flat_map(|s| s.slots.iter()).filter_map(|s| match s {
        Slot::Value { value, .. } => Some(*value),
        _ => None,
    });
    let axis = LogAxis::covering(values);
    let mut out = open(&c.title, &c.subtitle);

    // Legend: one swatch per series, then the marks.
    let mut x = 16.0;
    for s in &c.series {
        let _ = writeln!(out, r#"<rect x="{x:.1}" y="52" width="12" height="12" fill="{}"/>"#, esc(&s.color));
        let _ = writeln!(out, r#"<text x="{:.1}" y="62" font-size="12">{}</text>"#, x + 16.0, esc(&s.name));
        x += 28.0 + 7.0 * s.name.chars().count() as f64;
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="62" font-size="12"><tspan fill="{ERROR_COLOR}" font-weight="bold">!</tspan> errors   <tspan fill="{BARE_COLOR}" font-weight="bold">×</tspan> not measured</text>"#,
        x + 8.0
    );

    y_axis(&mut out, axis, left, right, top, bottom, &decade_label);
    let _ = writeln!(
        out,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" font-size="12" text-anchor="middle">ops/s (log scale)</text>"#,
        (top + bottom) / 2.0
    );

    let n = c.groups.len().max(1) as f64;
    let gw = (right - left) / n;
    for (g, name) in c.groups.iter().enumerate() {
        let here: Vec<(&Series, Slot)> = c
            .series
            .iter()
            .filter_map(|s| s.slots.get(g).map(|slot| (s, *slot)))
            .filter(|(_, slot)| *slot != Slot::NotApplicable)
            .collect();
        let x0 = left + gw * g as f64;
        let cx = x0 + gw / 2.0;
        let bw = (gw * 0.8 / here.len().max(1) as f64).min(28.0);
        let start = cx - bw * here.len() as f64 / 2.0;
        for (i, (s, slot)) in here.iter().enumerate() {
            let bx = start + bw * i as f64;
            let mid = bx + bw / 2.0;
            let (value, errors) = match slot {
                Slot::Value { value, errors } => (Some(*value), *errors),
                _ => (None, 0),
            };
            let mark_y = match value.and_then(|v| axis.frac(v).map(|f| (v, f))) {
                Some((v, f)) => {
                    let h = (f * (bottom - top)).max(1.0);
                    let y = bottom - h;
                    let stroke =
                        if errors > 0 { format!(r#" stroke="{ERROR_COLOR}" stroke-width="2""#) } else { String::new() };
                    let tip = format!(
                        "{} · {name}: {} ops/s{}",
                        s.name,
                        ops_label(v),
                        if errors > 0 { format!(", {errors} errors") } else { String::new() }
                    );
                    let _ = writeln!(
                        out,
                        r#"<rect x="{bx:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"{stroke}><title>{}</title></rect>"#,
                        (bw - 1.0).max(1.0),
                        esc(&s.color),
                        esc(&tip)
                    );
                    y - 3.0
                }
                None => {
                    let what = if value.is_some() { "0 ops/s" } else { "not measured" };
                    let _ = writeln!(
                        out,
                        r#"<text x="{mid:.1}" y="{:.1}" font-size="12" font-weight="bold" text-anchor="middle" fill="{BARE_COLOR}">×<title>{}</title></text>"#,
                        bottom - 3.0,
                        esc(&format!("{} · {name}: {what}", s.name))
                    );
                    bottom - 16.0
                }
            };
            if errors > 0 {
                let _ = writeln!(
                    out,
                    r#"<text x="{mid:.1}" y="{mark_y:.1}" font-size="13" font-weight="bold" text-anchor="middle" fill="{ERROR_COLOR}">!</text>"#
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text transform="translate({:.1},{:.1}) rotate(-38)" font-size="11" text-anchor="end">{}</text>"#,
            cx + 3.0,
            bottom + 14.0,
            esc(name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Lines: per series, the value at each x (users), both axes log scale.
pub(crate) fn line_svg(c: &LineChart) -> String {
    let (left, right, top, bottom) = (76.0, 640.0, 64.0, HEIGHT - 56.0);
    let (pl, pr) = (left + 24.0, right - 24.0);
    let values = c.series.iter().flat_map(|s| s.slots.iter()).filter_map(|s| match s {
        Slot::Value { value, .. } => Some(*value),
        _ => None,
    });
    let yaxis = LogAxis::covering(values);
    let xaxis = LogAxis::covering(c.xs.iter().copied());
    let xpos = |v: f64| xaxis.frac(v).map(|f| pl + f * (pr - pl));
    let ypos = |v: f64| yaxis.frac(v).map(|f| bottom - f * (bottom - top));
    let mut out = open(&c.title, &c.subtitle);

    let unit = c.unit;
    let ylabel = move |k: i32| match unit {
        Unit::Micros if k >= 3 => format!("{} ms", decade_label(k - 3)),
        Unit::Micros => format!("{} µs", decade_label(k)),
        Unit::Millis if k < 0 => format!("{} µs", decade_label(k + 3)),
        Unit::Millis => format!("{} ms", decade_label(k)),
    };
    y_axis(&mut out, yaxis, left, right, top, bottom, &ylabel);
    let _ = writeln!(
        out,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" font-size="12" text-anchor="middle">{} (log scale)</text>"#,
        (top + bottom) / 2.0,
        esc(&c.y_label)
    );

    // x ticks: every decade, and every measured size.
    let mut ticks: Vec<f64> = (xaxis.lo..=xaxis.hi).map(|k| 10f64.powi(k)).collect();
    ticks.extend(c.xs.iter().copied());
    ticks.sort_by(f64::total_cmp);
    ticks.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * a.abs().max(1.0));
    for t in ticks {
        if let Some(x) = xpos(t) {
            let measured = c.xs.iter().any(|m| (m - t).abs() <= 1e-9 * t.abs().max(1.0));
            let (stroke, weight) = if measured { ("#bbbbbb", "bold") } else { ("#eeeeee", "normal") };
            let _ = writeln!(out, r#"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="{stroke}"/>"#);
            let _ = writeln!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" font-size="11" font-weight="{weight}" text-anchor="middle">{}</text>"#,
                bottom + 16.0,
                users_label(t)
            );
        }
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">users in the tenant (log scale; bold: measured)</text>"#,
        (left + right) / 2.0,
        bottom + 36.0
    );

    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{top}" font-size="12" font-weight="bold">scenario (last / first)</text>"#,
        right + 16.0
    );
    for (i, s) in c.series.iter().enumerate() {
        let color = esc(&s.color);
        let points: Vec<(f64, f64, f64, u64)> = s
            .slots
            .iter()
            .zip(&c.xs)
            .filter_map(|(slot, &xv)| match slot {
                Slot::Value { value, errors } => Some((xpos(xv)?, ypos(*value)?, *value, *errors)),
                _ => None,
            })
            .collect();
        // Segments only between neighbouring measured sizes: a gap stays a gap.
        let mut run: Vec<String> = Vec::new();
        for (slot, &xv) in s.slots.iter().zip(&c.xs) {
            let p = match slot {
                Slot::Value { value, .. } => xpos(xv).zip(ypos(*value)),
                _ => None,
            };
            match p {
                Some((x, y)) => run.push(format!("{x:.1},{y:.1}")),
                None => {
                    polyline(&mut out, &run, &color);
                    run.clear();
                }
            }
        }
        polyline(&mut out, &run, &color);
        for &(x, y, v, errors) in &points {
            let ring = if errors > 0 { ERROR_COLOR } else { "#ffffff" };
            let _ = writeln!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{color}" stroke="{ring}" stroke-width="1.5"><title>{}</title></circle>"#,
                esc(&format!(
                    "{}: {}{}",
                    s.name,
                    value_label(v, c.unit),
                    if errors > 0 { format!(", {errors} errors") } else { String::new() }
                ))
            );
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{color}">{}{}</text>"#,
                x + 6.0,
                y - 5.0,
                esc(&value_label(v, c.unit)),
                if errors > 0 { " !" } else { "" }
            );
        }
        let growth = match (points.first(), points.last()) {
            (Some(a), Some(b)) if points.len() > 1 && a.2 > 0.0 => format!(" ({:.2}x)", b.2 / a.2),
            _ => String::new(),
        };
        let ly = top + 20.0 + 20.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2.5"/>"#,
            right + 16.0,
            ly - 4.0,
            right + 36.0,
            ly - 4.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{ly:.1}" font-size="12">{}{}</text>"#,
            right + 42.0,
            esc(&s.name),
            esc(&growth)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn polyline(out: &mut String, points: &[String], color: &str) {
    if points.len() > 1 {
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2.5"/>"#,
            points.join(" ")
        );
    }
}

// ---- from result documents (the JSON of `run` and `compare`)

/// One result document and the name it is known by (its file name).
pub(crate) struct Doc {
    pub name: String,
    pub value: Value,
}

fn targets(doc: &Value) -> impl Iterator<Item = &Value> {
    doc.get("targets").and_then(Value::as_array).into_iter().flatten()
}

fn label(t: &Value) -> String {
    t.get("label").and_then(Value::as_str).unwrap_or("?").to_string()
}

fn scenarios(t: &Value) -> impl Iterator<Item = &Value> {
    t.get("scenarios").and_then(Value::as_array).into_iter().flatten()
}

fn scenario<'a>(t: &'a Value, name: &str) -> Option<&'a Value> {
    scenarios(t).find(|s| s.get("name").and_then(Value::as_str) == Some(name))
}

fn is_bare(t: &Value) -> bool {
    scenario(t, "bare_get").is_some()
}

fn errors_of(s: &Value) -> u64 {
    s.get("errors").and_then(Value::as_u64).unwrap_or(0)
}

/// The users in the tenant during a run: `total_users` (written since the
/// charts), else the count in the sampling note of `--existing-users`
/// ("used N of the target's TOTAL existing users"), else the users it seeded.
pub(crate) fn users_of(t: &Value) -> Option<u64> {
    if let Some(n) = t.get("total_users").and_then(Value::as_u64) {
        return Some(n);
    }
    let notes = t.get("notes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    for note in notes {
        if let Some(rest) = note.split("of the target's ").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
        }
    }
    t.get("users").and_then(Value::as_u64).filter(|&n| n > 0)
}

/// The date part of a document's `date` (written since the charts).
fn date_of(doc: &Value) -> Option<&str> {
    doc.get("date").and_then(Value::as_str).map(|d| d.split('T').next().unwrap_or(d))
}

/// Series names made unique: a label met again in a later document gets that document's name.
fn unique_names(docs: &[Doc], keep: impl Fn(&Value) -> bool) -> Vec<(String, &Value)> {
    let mut out: Vec<(String, &Value)> = Vec::new();
    for d in docs {
        for t in targets(&d.value).filter(|t| keep(t)) {
            let mut name = label(t);
            if out.iter().any(|(n, _)| *n == name) {
                name = format!("{name} ({})", d.name);
            }
            out.push((name, t));
        }
    }
    out
}

/// The bar chart of one or more `compare`/`run` documents: ops/s per
/// scenario, one bar per target; the bare route beside the GET-like scenarios.
pub(crate) fn bars_from_docs(docs: &[Doc], title: Option<&str>) -> BarChart {
    let all = unique_names(docs, |_| true);
    let mut groups: Vec<String> = Vec::new();
    for (_, t) in all.iter().filter(|(_, t)| !is_bare(t)) {
        for name in scenarios(t).filter_map(|s| s.get("name").and_then(Value::as_str)) {
            if !groups.iter().any(|g| g == name) {
                groups.push(name.to_string());
            }
        }
    }
    let bare_exists = all.iter().any(|(_, t)| is_bare(t));
    let bare_beside = |g: &str| BARE_LIKE.contains(&g);
    if bare_exists && !groups.iter().any(|g| bare_beside(g)) {
        groups.insert(0, "bare_get".into());
    }
    let mut colors = PALETTE.iter().cycle();
    let series = all
        .iter()
        .map(|(name, t)| {
            let bare = is_bare(t);
            let color = if bare { BARE_COLOR } else { colors.next().copied().unwrap_or("#1f77b4") };
            let slots = groups
                .iter()
                .map(|g| {
                    let s = if bare {
                        if !(bare_beside(g) || g == "bare_get") {
                            return Slot::NotApplicable;
                        }
                        scenario(t, "bare_get")
                    } else {
                        scenario(t, g)
                    };
                    match s {
                        Some(s) => Slot::Value {
                            value: s.get("ops_per_sec").and_then(Value::as_f64).unwrap_or(0.0),
                            errors: errors_of(s),
                        },
                        None => Slot::Missing,
                    }
                })
                .collect();
            let name = if bare { format!("{name} (GET /healthz)") } else { name.clone() };
            Series { name, color: color.to_string(), slots }
        })
        .collect();
    let date = docs.iter().find_map(|d| date_of(&d.value));
    let title = match title {
        Some(t) => t.to_string(),
        None => {
            let labels: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
            format!("scimd-bench: {}{}", labels.join(" vs "), date.map(|d| format!(" · {d}")).unwrap_or_default())
        }
    };
    let subtitle = if bare_exists {
        "ops/s per scenario, log scale (higher is better); the bare route (the HTTP stack's limit) beside the GET-like scenarios"
    } else {
        "ops/s per scenario, log scale (higher is better)"
    };
    BarChart { title, subtitle: subtitle.into(), groups, series }
}

fn pretty(scenario: &str) -> String {
    match scenario {
        "get_by_id" => "GET by id".into(),
        "filter_username" => "filter userName eq".into(),
        "list_page_100" => "page of 100".into(),
        "list_page_deep" => "last page".into(),
        "seed_users" => "POST".into(),
        "patch_active" => "PATCH active".into(),
        other => other.into(),
    }
}

/// The scale chart: one document per tenant size (runs of `run --existing-users`
/// on that many loaded users); one line per scenario (and per target label
/// when the documents hold more than one).
pub(crate) fn scale_from_docs(
    docs: &[Doc],
    title: Option<&str>,
    metric: Metric,
    wanted: &[String],
) -> Result<LineChart, String> {
    // (label, users, target)
    let mut runs: Vec<(String, f64, &Value)> = Vec::new();
    for d in docs {
        for t in targets(&d.value).filter(|t| !is_bare(t)) {
            let users = users_of(t).ok_or_else(|| format!("{}: no user count in target '{}'", d.name, label(t)))?;
            runs.push((label(t), users as f64, t));
        }
    }
    if runs.is_empty() {
        return Err("no target results in the JSON files".into());
    }
    let mut xs: Vec<f64> = runs.iter().map(|r| r.1).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let labels: BTreeSet<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    let key = match metric {
        Metric::ServerUs => "server_us_per_op",
        Metric::P50Ms => "p50_ms",
    };
    let mut colors = PALETTE.iter().cycle();
    let mut series = Vec::new();
    for l in &labels {
        for sc in wanted {
            let slots: Vec<Slot> = xs
                .iter()
                .map(|&x| {
                    let found = runs.iter().filter(|r| r.0 == *l && r.1 == x).find_map(|r| scenario(r.2, sc));
                    match found.and_then(|s| s.get(key).and_then(Value::as_f64).map(|v| (v, errors_of(s)))) {
                        Some((value, errors)) => Slot::Value { value, errors },
                        None => Slot::Missing,
                    }
                })
                .collect();
            if slots.iter().all(|s| *s == Slot::Missing) {
                continue;
            }
            let name = if labels.len() > 1 { format!("{} · {l}", pretty(sc)) } else { pretty(sc) };
            series.push(Series { name, color: colors.next().copied().unwrap_or("#1f77b4").to_string(), slots });
        }
    }
    if series.is_empty() {
        return Err(format!(
            "none of the scenarios {} has {key} in the JSON files{}",
            wanted.join(", "),
            if metric == Metric::ServerUs { " (run with --server-pid, or use --metric p50-ms)" } else { "" }
        ));
    }
    let sizes: Vec<String> = xs.iter().map(|&x| users_label(x)).collect();
    let date = docs.iter().find_map(|d| date_of(&d.value));
    let title = match title {
        Some(t) => t.to_string(),
        None => format!(
            "scimd-bench: cost per operation as users grow{}",
            date.map(|d| format!(" · {d}")).unwrap_or_default()
        ),
    };
    let (y_label, unit, what) = match metric {
        Metric::ServerUs => ("server CPU per operation", Unit::Micros, "server CPU time per operation"),
        Metric::P50Ms => ("p50 latency", Unit::Millis, "median latency"),
    };
    let subtitle =
        format!("{what} by users in the tenant, measured at {}; a flat line: the cost does not grow", sizes.join(", "));
    Ok(LineChart { title, subtitle, y_label: y_label.into(), unit, xs, series })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Well-formed enough for an XML parser: one root, every tag closed in
    /// order, attribute quotes balanced, no raw `&` or `<` in text.
    fn check_xml(svg: &str) {
        let body = svg.strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#).unwrap_or(svg);
        let mut stack: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut rest = body;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt]);
            let gt = rest[lt..].find('>').expect("a tag is closed") + lt;
            let tag = &rest[lt + 1..gt];
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
            assert!(!tag.contains('<'), "'<' inside <{tag}>");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.trim()), "closing </{name}> out of order");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("a tag name").to_string();
                if stack.is_empty() {
                    roots += 1;
                }
                stack.push(name);
            } else if stack.is_empty() {
                roots += 1;
            }
            rest = &rest[gt + 1..];
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert_eq!(roots, 1, "one root element");
        assert!(body.trim_start().starts_with("<svg"));
    }

    fn check_text(text: &str) {
        assert!(!text.contains('>'), "raw '>' in text {text:?}");
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|e| entity.starts_with(e)),
                "raw '&' in {text:?}"
            );
        }
    }

    #[test]
    fn the_log_axis_covers_whole_decades() {
        assert_eq!(LogAxis::covering([8.3, 45_579.0]), LogAxis { lo: 0, hi: 5 });
        assert_eq!(LogAxis::covering([0.7, 1000.0]), LogAxis { lo: -1, hi: 3 });
        assert_eq!(LogAxis::covering([100.0]), LogAxis { lo: 2, hi: 3 });
        assert_eq!(LogAxis::covering([0.0, f64::NAN, -3.0]), LogAxis { lo: 0, hi: 1 });
        let a = LogAxis { lo: 0, hi: 5 };
        assert_eq!(a.frac(1.0), Some(0.0));
        assert_eq!(a.frac(100_000.0), Some(1.0));
        assert!(a.frac(1000.0).is_some_and(|f| (f - 0.6).abs() < 1e-12));
        assert!(a.frac(10f64.powf(2.5)).is_some_and(|f| (f - 0.5).abs() < 1e-12));
        assert_eq!(a.frac(0.0), None);
        assert_eq!(a.frac(-1.0), None);
        assert_eq!(a.frac(f64::NAN), None);
        assert_eq!(a.frac(1e9), Some(1.0));
    }

    #[test]
    fn decades_and_values_are_labelled_as_people_read_them() {
        let labels: Vec<String> = (-2..=7).map(decade_label).collect();
        assert_eq!(labels, ["0.01", "0.1", "1", "10", "100", "1k", "10k", "100k", "1M", "10M"]);
        assert_eq!(users_label(10_000.0), "10k");
        assert_eq!(users_label(1_000_000.0), "1M");
        assert_eq!(users_label(1_500_000.0), "1.5M");
        assert_eq!(value_label(24.26, Unit::Micros), "24.3 µs");
        assert_eq!(value_label(1234.0, Unit::Micros), "1.23 ms");
        assert_eq!(value_label(0.59, Unit::Millis), "590 µs");
        assert_eq!(ops_label(45_579.4), "45,579");
        assert_eq!(ops_label(1_234_567.0), "1,234,567");
        assert_eq!(ops_label(8.3), "8.30");
        assert_eq!(esc(r#"a<b & "c""#), "a&lt;b &amp; &quot;c&quot;");
    }

    fn scen(name: &str, ops: f64, errors: u64) -> Value {
        json!({"name": name, "ops": 10, "errors": errors, "ops_per_sec": ops, "p50_ms": 0.5,
               "server_us_per_op": ops / 1000.0})
    }

    fn compare_doc() -> Doc {
        Doc {
            name: "compare-sqlite.json".into(),
            value: json!({"date": "2026-12-07T15:00:00Z", "targets": [
                {"label": "bare", "users": 0, "scenarios": [scen("bare_get", 65_968.0, 0)]},
                {"label": "scimd-sqlite", "users": 100, "scenarios": [
                    scen("seed_users", 7188.0, 0), scen("get_by_id", 45_579.0, 0),
                    scen("member_add@100000", 1300.0, 0), scen("patch_active", 3321.0, 2)]},
                {"label": "peer", "users": 100, "scenarios": [
                    scen("seed_users", 730.0, 0), scen("get_by_id", 1122.0, 0), scen("patch_active", 0.0, 5)]},
            ]}),
        }
    }

    #[test]
    fn bars_mark_missing_values_and_errors_and_place_the_bare_route() {
        let c = bars_from_docs(&[compare_doc()], None);
        assert_eq!(c.groups, ["seed_users", "get_by_id", "member_add@100000", "patch_active"]);
        assert_eq!(c.title, "scimd-bench: bare vs scimd-sqlite vs peer · 2026-12-07");
        let bare = &c.series[0];
        assert_eq!(bare.name, "bare (GET /healthz)");
        assert_eq!(bare.slots[0], Slot::NotApplicable);
        assert_eq!(bare.slots[1], Slot::Value { value: 65_968.0, errors: 0 });
        let peer = &c.series[2];
        assert_eq!(peer.slots[2], Slot::Missing, "the peer did not run member_add@100000");
        assert_eq!(peer.slots[3], Slot::Value { value: 0.0, errors: 5 });
        assert_eq!(c.series[1].slots[3], Slot::Value { value: 3321.0, errors: 2 });

        let svg = bar_svg(&c);
        check_xml(&svg);
        for needle in [
            "45,579 ops/s",
            "65,968 ops/s",
            "member_add@100000",
            "peer · member_add@100000: not measured",
            "peer · patch_active: 0 ops/s",
            "2 errors",
            ">1k<",
            ">10k<",
            ">100k<",
            "ops/s (log scale)",
        ] {
            assert!(svg.contains(needle), "{needle} not in the chart");
        }
        assert_eq!(svg.matches(r##"fill="#d00000">!</text>"##).count(), 2, "two scenarios with errors are marked");
    }

    #[test]
    fn an_empty_or_odd_document_still_draws() {
        let docs = [Doc { name: "x".into(), value: json!({"targets": [{"label": "a<b", "scenarios": []}]}) }];
        let c = bars_from_docs(&docs, Some("t & u"));
        assert!(c.groups.is_empty());
        let svg = bar_svg(&c);
        check_xml(&svg);
        assert!(svg.contains("t &amp; u") && svg.contains("a&lt;b"));
        check_xml(&bar_svg(&bars_from_docs(&[Doc { name: "y".into(), value: json!({}) }], None)));
    }

    #[test]
    fn a_repeated_label_is_named_by_its_file() {
        let mut other = compare_doc();
        other.name = "compare-postgres.json".into();
        let c = bars_from_docs(&[compare_doc(), other], None);
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[3], "bare (compare-postgres.json) (GET /healthz)");
        assert_eq!(names[5], "peer (compare-postgres.json)");
    }

    fn scale_doc(users: u64, get_us: f64, with_post: bool) -> Doc {
        let mut sc = vec![
            json!({"name": "get_by_id", "errors": 0, "server_us_per_op": get_us, "p50_ms": 0.1}),
            json!({"name": "patch_active", "errors": 1, "server_us_per_op": 200.0, "p50_ms": 8.0}),
        ];
        if with_post {
            sc.push(json!({"name": "seed_users", "errors": 0, "server_us_per_op": 150.0, "p50_ms": 4.0}));
        }
        Doc {
            name: format!("r{users}.json"),
            value: json!({"targets": [{"label": "scimd-sqlite", "users": 10_000,
                "notes": [format!("used 10000 of the target's {users} existing users (sampled)")], "scenarios": sc}]}),
        }
    }

    #[test]
    fn the_scale_chart_reads_the_tenant_size_and_keeps_gaps() {
        let docs = [scale_doc(100_000, 26.0, false), scale_doc(10_000, 24.0, true)];
        let wanted: Vec<String> = SCALE_SCENARIOS.iter().map(|s| s.to_string()).collect();
        let c = scale_from_docs(&docs, None, Metric::ServerUs, &wanted).expect("a chart");
        assert_eq!(c.xs, [10_000.0, 100_000.0]);
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["GET by id", "POST", "PATCH active"]);
        assert_eq!(c.series[0].slots, [Slot::Value { value: 24.0, errors: 0 }, Slot::Value { value: 26.0, errors: 0 }]);
        assert_eq!(c.series[1].slots[1], Slot::Missing);
        assert!(c.subtitle.contains("measured at 10k, 100k"));
        let svg = line_svg(&c);
        check_xml(&svg);
        for needle in ["24.0 µs", "26.0 µs", "GET by id (1.08x)", ">10k<", ">100k<", "200 µs !"] {
            assert!(svg.contains(needle), "{needle} not in the chart");
        }
        assert_eq!(svg.matches("<polyline").count(), 2, "POST has one point: no line");

        let p50 = scale_from_docs(&docs, Some("p50"), Metric::P50Ms, &wanted).expect("a chart");
        check_xml(&line_svg(&p50));
        assert_eq!(p50.series[2].slots[0], Slot::Value { value: 8.0, errors: 1 });
    }

    #[test]
    fn the_scale_chart_says_what_is_missing() {
        let none = scale_from_docs(&[], None, Metric::ServerUs, &["get_by_id".into()]);
        assert!(none.is_err());
        let docs = [scale_doc(10_000, 24.0, false)];
        let e = scale_from_docs(&docs, None, Metric::ServerUs, &["list_page_100".into()]).err().unwrap_or_default();
        assert!(e.contains("list_page_100"), "{e}");
        let total = json!({"label": "x", "total_users": 1_000_000, "users": 5});
        assert_eq!(users_of(&total), Some(1_000_000));
        assert_eq!(users_of(&json!({"users": 0})), None);
    }
}
