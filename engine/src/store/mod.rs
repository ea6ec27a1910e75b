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
pub mod vectors;

pub use faiss_store::FaissStore;
pub use indexed::LibraryVectors;
pub use vectors::{VectorSearch, VectorStore};
