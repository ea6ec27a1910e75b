//! Progress reporting without a terminal: the engine calls these hooks, the CLI draws them (with
//! indicatif) and the server could stream them.

/// Receives progress of one long task at a time (a download, an indexing run).
pub trait Progress: Send + Sync {
    /// A task named `label` starts; `total` units are expected (when known), `done` are already done.
    fn begin(&self, _label: &str, _total: Option<u64>, _done: u64) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
    /// The task ended (successfully or not).
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}
