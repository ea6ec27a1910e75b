//! Where a library's vectors live and how they are searched. Every embedding is stored once, in
//! the append-only [`crate::catalog::vector_file`]; the search structure over it is exact (built in memory) or an
//! approximate FAISS [`snapshot`] kept current by the catalog's vector log, chosen by [`policy`];
//! [`indexed`] puts them together for searching, re-ranking approximate candidates exactly. Ids
//! are catalog ids; vectors are L2-normalised, so the inner product is cosine similarity.

pub mod choice;
pub mod faiss_store;
pub mod indexed;
#[cfg(feature = "milvus")]
pub mod milvus;
pub mod policy;
pub mod snapshot;

use std::path::Path;

pub use faiss_store::FaissStore;

use crate::{catalog::filter::Filter, Result};

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

/// What a searcher needs of a library's vectors, whichever store holds them.
pub trait LibraryVectors: VectorSearch {
    /// The index folder's vector file, which every store keeps (the catalog's vectors).
    fn stored(&self) -> &indexed::StoredVectors;

    /// The stored vector of `id` (an image's or a frame's).
    fn vector(&self, id: i64) -> Result<Option<Vec<f32>>> {
        self.stored().vector(id)
    }

    /// The `k` vectors among `ids` most similar to `query`, compared exactly.
    fn search_among(&self, query: &[f32], ids: &[i64], k: usize) -> Result<Vec<(i64, f32)>> {
        self.stored().search_among(query, ids, k)
    }

    /// Whether searches are approximate.
    fn is_approximate(&self) -> bool;

    /// The index searched, in words (`Flat` = exact FAISS).
    fn factory(&self) -> &str;

    /// Changes replayed into an approximate snapshot when it was opened.
    fn replayed(&self) -> usize {
        0
    }

    /// Recall@10 against exact search, when known (1 for exact search).
    fn recall(&self) -> Option<f32>;

    /// A search narrowed by `filter` that the store runs itself (Milvus evaluates filters next
    /// to the vectors); `ids_of` gives the catalog's vector ids for a filter part the store
    /// cannot evaluate. None: the searcher narrows by the catalog's ids instead.
    fn search_filtered(
        &self,
        _query: &[f32],
        _filter: &Filter,
        _ids_of: &dyn Fn(&Filter) -> Result<std::sync::Arc<Vec<i64>>>,
        _k: usize,
    ) -> Option<Result<Vec<(i64, f32)>>> {
        None
    }
}
