//! What a run is asked to do: which folders, into which index folder, in what batches and
//! checkpoints, with which vector index and store ([`IndexOptions`]).

use std::{path::PathBuf, sync::Arc};

use crate::{
    ingest::pipeline,
    media::ocr::OcrOptions,
    media::video::SamplingOptions,
    store::choice::StoreChoice,
    store::policy::IndexPolicy,
    support::progress::{Progress, Silent},
};

/// What to index, where to keep the index, and how.
#[derive(Clone)]
pub struct IndexOptions {
    /// The folders of images to index (one or more: see [`Roots`](crate::ingest::roots::Roots)).
    pub data: Vec<PathBuf>,
    /// The folder the index (catalog, vectors, thumbnails) is kept in.
    pub index_dir: PathBuf,
    /// Images per vision encoder run.
    pub batch: usize,
    /// FAISS factory string, or `auto` to choose by size; None keeps the index's choice (`auto`
    /// for a new index).
    pub factory: Option<String>,
    /// The sizes at which `auto` changes index type.
    pub policy: IndexPolicy,
    /// Glob patterns of files to leave out, matched against the relative path or the file name.
    pub exclude: Vec<String>,
    /// Drop everything and start again (needed to change models).
    pub rebuild: bool,
    /// Start again only when the index was built with another model (else keep it and update).
    pub rebuild_on_model_change: bool,
    /// Commit to the catalog every this many embedded images.
    pub checkpoint: usize,
    /// Read every file's size and mtime, not only those in folders changed since the last run
    /// (finds files rewritten in place under the same name; runs by itself once a day).
    pub full_scan: bool,
    /// Files modified less than this long ago are left for a later run (a copy still being
    /// written is not indexed as broken); watch mode sets it.
    pub settle: std::time::Duration,
    /// Files larger than this many bytes are skipped with a reason, unread.
    pub max_file_bytes: u64,
    /// Whether to write a thumbnail of each decoded image into the index folder.
    pub thumbnails: bool,
    /// Which frames of a video are embedded.
    pub video: SamplingOptions,
    /// Told how many images are embedded as it happens.
    pub progress: Arc<dyn Progress>,
    /// The vector store to use from now on (recorded in the catalog); `None`: the recorded one.
    pub store: Option<StoreChoice>,
    /// How the words in images are read after the embeddings are committed; `None`: not read.
    pub ocr: Option<OcrOptions>,
}

impl IndexOptions {
    /// Options to index the folder `data` into `index_dir`: batch 8, checkpoint 256, thumbnails
    /// on, the index's factory kept,
    /// words read with Tesseract's English and Chinese models.
    pub fn new(data: PathBuf, index_dir: PathBuf) -> Self {
        IndexOptions {
            data: vec![data],
            index_dir,
            batch: 8,
            factory: None,
            policy: IndexPolicy::default(),
            exclude: Vec::new(),
            rebuild: false,
            rebuild_on_model_change: false,
            checkpoint: 256,
            full_scan: false,
            settle: std::time::Duration::ZERO,
            max_file_bytes: pipeline::MAX_FILE_BYTES,
            thumbnails: true,
            video: SamplingOptions::default(),
            progress: Arc::new(Silent),
            store: None,
            ocr: Some(OcrOptions::default()),
        }
    }
}
