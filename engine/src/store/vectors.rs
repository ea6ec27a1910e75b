//! What every vector store does: search (exact or approximate, by inner product of
//! L2-normalised vectors) and, for the stores an index writes, add, remove and save.

use std::path::Path;

use crate::Result;

/// A searchable set of (catalog id, vector) pairs.
pub trait VectorSearch: Send + Sync {
    /// Floats per vector.
    fn dim(&self) -> usize;

    /// How many vectors it holds.
    fn len(&self) -> u64;

    /// Whether it holds no vector.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` best (id, similarity) pairs for each query in a batch (`queries` holds them back
    /// to back), best first. A batch reads the vectors once for all its queries.
    fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(i64, f32)>>>;
}

/// A set of (catalog id, vector) pairs that changes in place.
pub trait VectorStore: VectorSearch {
    /// Adds `ids.len()` vectors (`vectors` holds them back to back).
    fn add(&mut self, ids: &[i64], vectors: &[f32]) -> Result<()>;

    /// Removes the vectors with these ids; returns how many were there.
    fn remove(&mut self, ids: &[i64]) -> Result<u64>;

    /// Makes the vectors durable beside the catalog in `index_dir` (a file for an embedded
    /// store; a flush for a remote one).
    fn save(&self, index_dir: &Path) -> Result<()>;
}
