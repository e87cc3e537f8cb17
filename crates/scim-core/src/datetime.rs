//! Just enough of xsd:dateTime / RFC 3339 to validate values and order them
//! (RFC 7643 §2.3.5). The core never reads a clock: callers pass times in.

/// Seconds and nanoseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    pub secs: i64,
    pub nanos: u32,
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`; no zone means UTC.
pub fn parse(text: &str) -> Option<Instant> {
    let s = text.as_bytes();
    let year = digits(s, 0, 4)?;
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    let hour = digits(s, 11, 2)?;
    let minute = digits(s, 14, 2)?;
    let second = digits(s, 17, 2)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') || !matches!(s.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if s.get(13) != Some(&b':') || s.get(16) != Some(&b':') {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos: u32 = 0;
    if s.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while s.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u32::from(s[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..9 {
            nanos *= 10;
        }
    }
    let offset = match s.get(at) {
        None => 0,
        Some(b'Z' | b'z') if at + 1 == s.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == s.len() && s[at + 3] == b':' => {
            let h = digits(s, at + 1, 2)?;
            let m = digits(s, at + 4, 2)?;
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(Instant { secs, nanos })
}

/// Format as `YYYY-MM-DDTHH:MM:SS.mmmZ` (what `meta.created` uses).
pub fn format_millis(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60, nanos / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let a = parse("2011-05-13T04:42:34Z").unwrap();
        let b = parse("2011-05-13T06:42:34+02:00").unwrap();
        assert_eq!(a, b);
        assert!(parse("2011-05-13T04:42:34.5Z").unwrap() > a);
        assert_eq!(a.secs, 1_305_261_754);
        assert!(parse("2011-13-13T04:42:34Z").is_none());
        assert!(parse("yesterday").is_none());
        assert!(parse("2011-05-13T04:42:34Zjunk").is_none());
    }

    #[test]
    fn formats_round_trip() {
        let t = parse("2024-02-29T23:59:58.123Z").unwrap();
        assert_eq!(format_millis(t.secs, t.nanos), "2024-02-29T23:59:58.123Z");
        assert_eq!(format_millis(0, 0), "1970-01-01T00:00:00.000Z");
    }
}
