//! The integration tests, in one binary so the statically linked FAISS and ONNX Runtime glue are
//! linked once (as ripgrep's `tests/tests.rs` does).

mod access;
mod cli_embed;
mod clip_parity;
mod demo_model;
mod doctor;
mod duplicates;
mod family_parity;
mod folders;
mod formats;
mod fuzz;
mod growing;
mod hostile;
mod http_edge;
mod indexing;
mod layout;
mod live;
mod milvus;
mod models_fetch;
mod ocr;
mod photo_filters;
mod references;
mod video;
