//! The search engine: everything that turns images and text into ranked hits.
//!
//! No web code lives here, so the engine is usable as a library and from the CLI.

pub mod batcher;
pub mod catalog;
pub mod clip;
pub mod device;
pub mod digest;
pub mod error;
pub mod evaluate;
pub mod indexer;
pub mod models;
pub mod openmp;
pub mod progress;
pub mod runtime;
pub mod scan;
pub mod searcher;
pub mod thumbs;
pub mod vectors;

pub use device::Device;
pub use error::{EngineError, Result};
