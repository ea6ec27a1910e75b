//! What a run reports: the [`Summary`] of one run, and what each file's outcome adds to it.

use serde::Serialize;

use crate::{ingest::run_status::Skipped, store::snapshot};

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Images in the index after the run.
    pub total: u64,
    /// New paths whose images were embedded.
    pub new: usize,
    /// Known paths whose content changed and was embedded again.
    pub changed: usize,
    /// Known files left as they were (same size and mtime, or same content).
    pub unchanged: usize,
    /// Same content under a new path: moved, no encoder run.
    pub renamed: usize,
    /// Images dropped because their file is gone (its content turned up nowhere else), or changed
    /// into something that no longer decodes.
    pub removed: usize,
    /// New files whose content was already indexed under another path: embedding reused.
    pub duplicates: usize,
    /// Images that went through the vision encoder (a video counts once).
    pub embedded: usize,
    /// Video frames that went through the vision encoder.
    pub video_frames: usize,
    /// Why videos were left for a later run (`ffmpeg` missing), and how many; images index as usual.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub videos_waiting: Option<(usize, String)>,
    /// Files modified too recently (see `IndexOptions::settle`), left for a later run.
    pub unsettled: usize,
    /// Files that could not be indexed, and why.
    pub skipped: Vec<Skipped>,
    /// Folders or files the scan could not read.
    pub scan_problems: Vec<Skipped>,
    /// Files whose words were looked for in this run, and those in which some were found.
    pub words_read: usize,
    /// Files in which words were found in this run.
    pub with_words: usize,
    /// Why the words in images were not read (Tesseract or its models missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words_not_read: Option<String>,
    /// Wall-clock duration of the whole run, in seconds.
    pub seconds: f64,
    /// Embedded images per second of the embedding phase.
    pub images_per_second: f64,
    /// Whether a new approximate index snapshot was written (trained, or the log folded in).
    pub vectors_written: bool,
    /// The vector index searches use now (`Flat` = exact), whether this run trained it, and its
    /// measured recall.
    pub vector_index: snapshot::Maintenance,
    /// Vectors written to a remote store (Milvus) by this run, and removed from it.
    pub uploaded: usize,
    /// Vectors removed from a remote store by this run.
    pub remote_deleted: usize,
    /// The remote store the run kept up to date (its URL without password); none for the
    /// embedded store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_store: Option<String>,
    /// Thumbnails made for images indexed earlier whose thumbnail was missing (a failed write).
    pub thumbnails_made: usize,
}

/// What one file's outcome adds to the summary.
pub(super) enum Counted {
    New,
    Changed,
    Unchanged,
    Renamed,
    Duplicate,
    /// A duplicate of content not committed yet (embedded later in this run, or broken).
    DuplicateLater,
    Skipped(String),
}

impl Counted {
    /// Whether a path got an embedding (its own or a duplicate's).
    pub(super) fn is_indexed(&self) -> bool {
        matches!(self, Counted::New | Counted::Changed | Counted::Duplicate)
    }

    /// Whether the catalog's set of (id, vector, path) rows changed, so the vectors must be rewritten.
    pub(super) fn changes_vectors(&self) -> bool {
        matches!(self, Counted::New | Counted::Changed | Counted::Renamed | Counted::Duplicate)
    }
}

impl Summary {
    pub(super) fn count(&mut self, path: &str, counted: Counted) {
        match counted {
            Counted::New => (self.new, self.embedded) = (self.new + 1, self.embedded + 1),
            Counted::Changed => (self.changed, self.embedded) = (self.changed + 1, self.embedded + 1),
            Counted::Unchanged => self.unchanged += 1,
            Counted::Renamed => self.renamed += 1,
            Counted::Duplicate => self.duplicates += 1,
            Counted::DuplicateLater => {}
            Counted::Skipped(reason) => self.skipped.push(Skipped { path: path.to_string(), reason }),
        }
    }
}
