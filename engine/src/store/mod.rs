//! Where a library's vectors live and how they are searched, behind one seam. The embedded
//! FAISS store is the one implementation today; approximate/incremental and remote stores plug
//! in behind the same trait. Ids are catalog ids; vectors are L2-normalised, so the inner
//! product a store ranks by is cosine similarity.

pub mod faiss_store;
pub mod vector_file;

use std::path::Path;

pub use faiss_store::FaissStore;

use crate::Result;

/// A searchable set of (catalog id, vector) pairs.
pub trait VectorStore: Send + Sync {
    /// Floats per vector.
    fn dim(&self) -> usize;

    /// How many vectors the store holds.
    fn len(&self) -> u64;

    /// Whether the store holds no vector.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `ids.len()` vectors (`vectors` holds them back to back).
    fn add(&mut self, ids: &[i64], vectors: &[f32]) -> Result<()>;

    /// Removes the vectors with these ids; returns how many were there.
    fn remove(&mut self, ids: &[i64]) -> Result<u64>;

    /// The `k` best (id, similarity) pairs for each query in a batch (`queries` holds them back
    /// to back), best first. A batch reads the vectors once for all its queries.
    fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(i64, f32)>>>;

    /// Makes the vectors durable beside the catalog in `index_dir` (a file for an embedded
    /// store; a flush for a remote one).
    fn save(&self, index_dir: &Path) -> Result<()>;
}
