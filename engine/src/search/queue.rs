//! The queue both batchers drain: requests taken together in batches, and the tickets that let
//! a query overtaken by a newer one from the same client (live typing) be dropped unanswered.

use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    mpsc, Arc,
};

/// A client's place in line: its queries are numbered, and the shared counter holds the newest.
#[derive(Debug, Clone)]
pub struct Ticket {
    newest: Arc<AtomicU64>,
    number: u64,
}

impl Ticket {
    /// The next query of the client whose newest query number is `newest`.
    pub fn next(newest: &Arc<AtomicU64>) -> Ticket {
        Ticket { newest: newest.clone(), number: newest.fetch_add(1, Relaxed) + 1 }
    }

    /// Whether a newer query from the same client has arrived since.
    pub fn is_superseded(&self) -> bool {
        self.newest.load(Relaxed) != self.number
    }
}

/// How the batches formed so far were sized: `counts[n - 1]` batches of n queries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchSizes {
    /// Batches formed, by size (index 0: batches of one query).
    pub counts: Vec<u64>,
}

/// Counts the batches a batcher forms, by size (read from any thread).
#[derive(Clone)]
pub(super) struct Tally(Arc<Vec<AtomicU64>>);

impl Tally {
    /// A tally of batches of 1 to `most` requests.
    pub(super) fn new(most: usize) -> Tally {
        Tally(Arc::new((0..most).map(|_| AtomicU64::new(0)).collect()))
    }

    /// One more batch of `n` requests.
    pub(super) fn count(&self, n: usize) {
        self.0[n - 1].fetch_add(1, Relaxed);
    }

    /// The batches counted so far.
    pub(super) fn sizes(&self) -> BatchSizes {
        BatchSizes { counts: self.0.iter().map(|c| c.load(Relaxed)).collect() }
    }
}

/// Waits for a request, then takes every other one already waiting, up to `most`; None once
/// every sender is gone.
pub(super) fn next_batch<T>(requests: &mpsc::Receiver<T>, most: usize) -> Option<Vec<T>> {
    let mut batch = vec![requests.recv().ok()?];
    while batch.len() < most {
        match requests.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// The requests of `batch` still wanted: each whose ticket was overtaken is handed to `refuse`
/// (which answers it [`EngineError::Superseded`]) instead.
pub(super) fn without_superseded<T>(batch: Vec<T>, ticket: impl Fn(&T) -> Option<&Ticket>, refuse: impl FnMut(T)) -> Vec<T> {
    let (dropped, kept): (Vec<T>, Vec<T>) = batch.into_iter().partition(|r| ticket(r).is_some_and(Ticket::is_superseded));
    dropped.into_iter().for_each(refuse);
    kept
}
