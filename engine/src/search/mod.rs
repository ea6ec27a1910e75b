//! Answering queries: the [`query`] grammar, the [`searcher`] that ranks an index against it,
//! the [`batcher`] and [`text_batcher`] that serve concurrent queries with one call each,
//! near-[`duplicates`], and [`evaluate`], the retrieval figures on a labelled set.

pub(crate) mod batcher;
pub mod duplicates;
pub mod evaluate;
mod hits;
pub mod query;
mod queue;
pub mod searcher;
pub mod text_batcher;
