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

//! The folders follow the flow of the data, each importing only from the ones above it in this list:
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`error`] | the one error type |
//! | [`support`] | small shared pieces: digests, the index folder's safe file access, progress hooks, crash points |
//! | [`runtime`] | where encoders run: ONNX Runtime loading, CUDA or CPU, OpenMP |
//! | [`clip`] | CLIP itself: model files, tokenizer, preprocessing, the encoders |
//! | [`media`] | reading photo metadata (EXIF) and video frames |
//! | [`catalog`] | the SQLite catalog of files, the vector file, filters, the model identity |
//! | [`store`] | vector stores: FAISS (exact or IVF), snapshots, Milvus |
//! | [`models`] | the model zoo and its downloader |
//! | [`ingest`] | building an index: scan, roots, the embedding pipeline, the indexer, its lock and status, thumbnails |
//! | [`search`] | answering queries: the query grammar, the searcher, batching, duplicates, evaluation |
//! | [`library`] | one place that opens a library for the CLI and the server |

pub mod catalog;
pub mod clip;
pub mod error;
pub mod ingest;
pub mod library;
pub mod media;
pub mod models;
pub mod runtime;
pub mod search;
pub mod store;
pub mod support;

pub use error::{EngineError, Result};
pub use library::{Library, LibraryConfig};
pub use runtime::device::Device;
