//! The engine's error type: one enum, each variant says what the user can do about it. Variants
//! that wrap another error keep it as their `source` (and leave it out of their own message, so
//! a printed chain says each thing once: see [`EngineError::chain`]).

use std::path::PathBuf;

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No ONNX Runtime library where it was looked for.
    #[error(
        "ONNX Runtime library not found (looked in: {searched}). Run `scripts/setup.sh`, \
         or point ORT_DYLIB_PATH at libonnxruntime.so"
    )]
    RuntimeNotFound {
        /// The places searched.
        searched: String,
    },

    /// The library was found but could not be loaded.
    #[error("cannot load ONNX Runtime from {}: {reason}", path.display())]
    RuntimeLoad {
        /// The library file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A device name that is not one of cpu, cuda, cuda:N, auto.
    #[error("invalid device `{0}`: expected cpu, cuda, cuda:N or auto")]
    InvalidDevice(String),

    /// A model folder that cannot be used.
    #[error("model at {}: {reason}", path.display())]
    Model {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The tokenizer refused a text.
    #[error("cannot tokenize: {0}")]
    Tokenize(String),

    /// A file or upload that is not a usable image.
    #[error("cannot read image {}: {reason}", path.display())]
    Image {
        /// The file (or a label for an upload).
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// An encoder failed while running.
    #[error("ONNX Runtime failed during {stage}: {reason}")]
    Inference {
        /// Which step (text encoder, vision encoder).
        stage: &'static str,
        /// ONNX Runtime's message.
        reason: String,
    },

    /// An index folder that something other than clipfind put a link (or a stranger's file)
    /// into: refused rather than followed.
    #[error(
        "refusing the index folder: {} is unsafe: {reason}. Remove it (clipfind made none of it), \
         or keep the index elsewhere with --index",
        path.display()
    )]
    UnsafeIndex {
        /// The entry refused.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A model download failed.
    #[error("model download failed: {0}")]
    Fetch(String),

    /// Something asked for does not exist (an image id, a file of an evaluation set).
    #[error("{0}")]
    NotFound(String),

    /// A request that cannot be carried out as given (a bad option, a bad pattern).
    #[error("{0}")]
    Usage(String),

    /// The catalog is unusable (wrong format, inconsistent content).
    #[error("catalog {}: {reason}", path.display())]
    Catalog {
        /// The catalog file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// SQLite failed on the catalog.
    #[error("catalog {}", path.display())]
    Database {
        /// The catalog file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// No index has been built in this folder.
    #[error("no index in {}: build it with `clipfind index --data DIR`", .0.display())]
    NoIndex(PathBuf),

    /// The index was built with another model.
    #[error("{0}")]
    ModelMismatch(String),

    /// A query that does not follow the query grammar (see [`crate::search::query`]).
    #[error("the query cannot be read {0}")]
    Query(crate::search::query::QueryError),

    /// A newer query from the same client replaced this one before it was encoded.
    #[error("a newer search from the same page replaced this one")]
    Superseded,

    /// Another process is writing this index.
    #[error("{0}")]
    Busy(String),

    /// The device asked for cannot be used.
    #[error("device: {0}")]
    Device(String),

    /// Reading or writing a file failed.
    #[error("{}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// FAISS reported a problem in clipfind's own words.
    #[error("FAISS: {0}")]
    Faiss(String),

    /// The vector store cannot be reached now (Milvus down or unreachable, credentials
    /// refused); trying again later may work.
    #[error("{0}")]
    StoreUnavailable(String),

    /// The vector store refused a request, or holds something clipfind did not expect.
    #[error("{0}")]
    Store(String),

    /// A FAISS call failed.
    #[error("FAISS")]
    FaissCall(#[from] faiss::error::Error),
}

impl EngineError {
    /// The message and every cause under it, each once: "a: b: c".
    pub fn chain(&self) -> String {
        let mut message = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            message.push_str(": ");
            message.push_str(&e.to_string());
            cause = e.source();
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_says_each_cause_once() {
        let e = EngineError::Io { path: "/x/y".into(), source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone") };
        assert_eq!(e.to_string(), "/x/y");
        assert_eq!(e.chain(), "/x/y: gone");
        assert!(std::error::Error::source(&e).is_some());
    }
}
