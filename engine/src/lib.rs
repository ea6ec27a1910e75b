//! clipfind's search engine: everything that turns images and text into ranked hits. CLIP runs
//! through ONNX Runtime, files are tracked in a SQLite catalog, vectors live in a
//! [`store::VectorStore`] (FAISS, embedded). No web, CLI or terminal code lives here, and no
//! environment variable is read: callers pass configuration in.
//!
//! ```no_run
//! use clipfind_engine::library::{Library, LibraryConfig};
//!
//! # fn main() -> clipfind_engine::Result<()> {
//! // Index a folder (only what changed since last time), then search it.
//! let library = Library::open(LibraryConfig { use_index_model: false, ..LibraryConfig::new("photos") })?;
//! library.index(|options| options)?;
//! let searcher = Library::open(LibraryConfig::new("photos"))?.searcher()?;
//! for hit in searcher.search("a dog sitting on a bench")? {
//!     println!("{} | similarity: {:.4}", hit.path, hit.score);
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub(crate) mod batcher;
pub mod catalog;
pub mod clip;
pub mod device;
pub(crate) mod digest;
pub mod duplicates;
pub mod error;
pub mod evaluate;
pub mod filter;
pub(crate) mod identity;
pub mod index_folder;
pub mod indexer;
pub mod killpoint;
pub mod library;
pub mod models;
pub mod openmp;
pub mod original;
pub mod photo_meta;
pub mod progress;
pub mod query;
pub mod roots;
pub mod run_status;
pub mod runtime;
pub(crate) mod scan;
pub mod searcher;
pub(crate) mod thumbs;
pub mod store;
pub mod video;
pub mod text_batcher;
pub mod writer_lock;

pub use device::Device;
pub use error::{EngineError, Result};
pub use library::{Library, LibraryConfig};
