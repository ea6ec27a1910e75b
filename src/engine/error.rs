//! The engine's error type: one enum, each variant says what the user can do about it.

use std::path::PathBuf;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "ONNX Runtime library not found (looked in: {searched}). Run `scripts/setup.sh`, \
         or point ORT_DYLIB_PATH at libonnxruntime.so"
    )]
    RuntimeNotFound { searched: String },

    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    RuntimeLoad { path: PathBuf, reason: String },

    #[error("invalid device `{0}`: expected cpu, cuda, cuda:N or auto")]
    InvalidDevice(String),

    #[error("model at {path}: {reason}")]
    Model { path: PathBuf, reason: String },

    #[error("cannot tokenize: {0}")]
    Tokenize(String),

    #[error("cannot read image {path}: {reason}")]
    Image { path: PathBuf, reason: String },

    #[error("ONNX Runtime failed during {stage}: {reason}")]
    Inference { stage: &'static str, reason: String },

    #[error("model download failed: {0}")]
    Fetch(String),

    #[error("{0}")]
    Usage(String),

    #[error("catalog {path}: {reason}")]
    Catalog { path: PathBuf, reason: String },

    #[error("no index in {}: build it with `clipfind index --data DIR`", .0.display())]
    NoIndex(PathBuf),

    #[error("{0}")]
    ModelMismatch(String),

    #[error("device: {0}")]
    Device(String),

    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("FAISS: {0}")]
    Faiss(String),
}

impl From<faiss::error::Error> for EngineError {
    fn from(e: faiss::error::Error) -> Self {
        EngineError::Faiss(e.to_string())
    }
}
