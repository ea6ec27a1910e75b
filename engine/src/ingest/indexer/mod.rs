//! Building and updating an index: scan the folder, work out what changed since the last run,
//! embed only new and changed files, and keep catalog, vectors and thumbnails consistent.
//!
//! Each new or changed file is read once: its bytes are hashed on a decode thread, and only
//! content the catalog does not already hold is decoded and embedded (the same content under a
//! new path is a rename or a duplicate; an edited file that hashes the same is only touched).
//!
//! Crash safety: every `checkpoint` files, the new vectors are appended to the vector file and
//! synced, then the rows that point at them are committed with the vector log (see
//! [`crate::store::snapshot`]): the vector index is never rebuilt from scratch, and a kill at any
//! step leaves the last commit searchable. After the run the size policy may train a new
//! approximate index or fold the log into it; the old one serves until the new one is committed.

mod clock;
mod embed;
mod file_meta;
mod finish;
mod full_scan;
mod open;
mod options;
mod plan;
mod remote;
mod run;
mod sorter;
mod summary;
mod thumbnails;
mod words;

pub use crate::ingest::run_status::Skipped;
pub use options::IndexOptions;
pub use run::run;
pub use summary::Summary;
