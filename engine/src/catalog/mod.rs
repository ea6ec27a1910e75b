//! The catalog: one SQLite file that is the index's source of truth. Per image: path (relative to
//! the data folder), size, mtime, content hash, dimensions, when it was indexed and the slot of
//! its embedding in the vector file (see [`crate::catalog::vector_file`]); plus the model identity
//! and data root. Every change happens in a transaction (WAL mode), so a killed process leaves the
//! last committed state.
//!
//! Each change to the set of vectors (an image added, re-embedded or removed) also appends its
//! id to `vector_log` in the same transaction: the write-ahead record that brings an approximate
//! index snapshot up to date (see [`crate::store::snapshot`]).

pub mod compaction;
mod connection;
mod open;
pub mod filter;
pub mod identity;
mod live;
mod rows;
mod schema;
mod upgrade;
pub mod vector_file;
mod words;
mod writer;

pub use connection::Catalog;
pub use live::MOTION_MAX_MS;
pub use rows::{FrameRow, ImageRow, SkippedRow, StoredFile, VectorRow, VideoSpan};
pub use schema::{CATALOG_FILE, FRAME_IDS};
pub use words::{Unread, WordsProgress};
pub use writer::{NewImage, Writer};
