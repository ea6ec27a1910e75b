//! The wall clock as the catalog records it: Unix nanoseconds and seconds.

use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

pub(super) fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
