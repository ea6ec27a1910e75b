//! Answering queries: the [`query`] grammar, the [`searcher`] that ranks an index against it,
//! the [`batcher`] and [`text_batcher`] that serve concurrent queries with one call each,
//! near-[`duplicates`], the [`stages`] a search's time goes to, and [`evaluate`], the retrieval figures on a labelled set. A query is
//! matched against the pictures, the [`words`] read in them and their names, with the dates it
//! names taken out as a filter ([`intent`]), in one list ([`fusion`]).

pub(crate) mod batcher;
pub mod duplicates;
pub mod evaluate;
mod fused;
pub mod fusion;
mod hits;
pub mod intent;
pub mod query;
mod queue;
pub mod searcher;
pub mod stages;
pub mod text_batcher;
pub mod words;
