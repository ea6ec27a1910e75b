//! Milvus as a library's vector store (feature `milvus`): [`remote`] is the collection and the
//! SDK calls, [`sync`] brings it up to date with the catalog after each indexing run, [`expr`]
//! turns search filters into Milvus expressions, and [`vectors`] searches through it.

pub mod expr;
pub mod remote;
pub mod sync;
pub mod vectors;

pub use remote::Remote;
pub use sync::{sync, SyncReport};
pub use vectors::MilvusVectors;
