//! Building and updating an index, in the order a run does it: the library's [`roots`], a
//! [`scan`] of them, the [`pipeline`] that reads, hashes, decodes and embeds files, the
//! [`indexer`] that decides what changed and commits it, [`thumbs`] for the page; the
//! [`writer_lock`] that keeps to one writer and the [`run_status`] it publishes. [`original`]
//! opens an indexed file again, checked to still be what was indexed.

pub mod indexer;
pub mod original;
pub mod pipeline;
pub mod roots;
pub mod run_status;
pub(crate) mod scan;
pub(crate) mod thumbs;
pub mod writer_lock;

pub use thumbs::{browsers_show, ensure as ensure_thumbnail, VIEW_SIZE};
