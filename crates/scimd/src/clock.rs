//! The one place scimd reads the clock (scim-core never does).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `YYYY-MM-DDTHH:MM:SS.mmmZ`: the format every timestamp is stored in,
/// so stored times order as text.
pub fn now() -> String {
    at_offset_secs(0)
}

/// Now plus `secs` seconds, in the same format.
pub fn at_offset_secs(secs: i64) -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2) + secs;
    scim_core::datetime::format_millis(s, d.subsec_nanos())
}
