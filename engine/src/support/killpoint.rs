//! A test hook for crash safety: with `CLIPFIND_KILL_AT=NAME` (or `NAME#N`) in the environment,
//! the process kills itself with SIGKILL the first (or N-th) time it reaches the step `NAME`: a
//! real `kill -9` at a chosen step, which the tests use to prove that every step leaves a
//! loadable, consistent index. Without the variable it costs one check of a parsed-once value.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    OnceLock,
};

/// The environment variable naming the step to die at.
pub const KILL_AT: &str = "CLIPFIND_KILL_AT";

struct Target {
    name: String,
    nth: u64,
    seen: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var(KILL_AT).ok()?;
            let (name, nth) = match spec.split_once('#') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Target { name, nth, seen: AtomicU64::new(0) })
        })
        .as_ref()
}

/// Marks the step `name`; dies here when the environment asks for it.
pub fn reached(name: &str) {
    let Some(target) = target() else { return };
    if target.name == name && target.seen.fetch_add(1, Ordering::SeqCst) + 1 == target.nth {
        // SAFETY: sends SIGKILL to this process; nothing after it runs.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// The environment variable naming a step to pause at, and a file: `NAME@FILE`.
pub const PAUSE_AT: &str = "CLIPFIND_PAUSE_AT";

/// Marks the step `name`; with `CLIPFIND_PAUSE_AT=NAME@FILE` in the environment it creates
/// `FILE` there and waits until the test removes it (to change the world mid-run: stop the
/// vector store, say).
pub fn pause(name: &str) {
    let Ok(spec) = std::env::var(PAUSE_AT) else { return };
    let Some((step, file)) = spec.split_once('@') else { return };
    if step != name || std::fs::write(file, name).is_err() {
        return;
    }
    while std::path::Path::new(file).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
