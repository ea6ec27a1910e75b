//! Where a search's time goes: the searcher times its stages (encoding the query, the vector
//! search, the words and names lookups, reading the rows) on the calling thread, and the caller
//! takes them when the search is done (the JSON API answers them as `stages`). A stage that waits
//! for a batch (the encoder, FAISS) counts its wait: that is where concurrent queries queue.

use std::{cell::RefCell, time::Instant};

thread_local! {
    static STAGES: RefCell<Vec<(&'static str, f64)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f`, adding its time to `stage` of this thread's current search.
pub(crate) fn timed<T>(stage: &'static str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    STAGES.with_borrow_mut(|stages| match stages.iter_mut().find(|(name, _)| *name == stage) {
        Some((_, total)) => *total += ms,
        None => stages.push((stage, ms)),
    });
    out
}

/// The milliseconds spent in each stage on this thread since the last call, in the order the
/// stages first ran; clears them for the next search.
pub fn take() -> Vec<(&'static str, f64)> {
    STAGES.with_borrow_mut(std::mem::take)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_per_name_in_first_run_order_and_clear() {
        take();
        timed("encode", || std::thread::sleep(std::time::Duration::from_millis(2)));
        timed("vectors", || ());
        timed("encode", || std::thread::sleep(std::time::Duration::from_millis(2)));
        let stages = take();
        assert_eq!(stages.iter().map(|s| s.0).collect::<Vec<_>>(), ["encode", "vectors"]);
        assert!(stages[0].1 >= 4.0, "{stages:?}");
        assert!(take().is_empty());
        // Another thread's stages are its own.
        timed("encode", || ());
        std::thread::spawn(|| assert!(take().is_empty())).join().unwrap();
        assert_eq!(take().len(), 1);
    }
}
