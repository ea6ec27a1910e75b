//! Deciding, on the decode threads, what each file's content needs once its hash is known (embed,
//! touch, rename or duplicate), and writing thumbnails of what gets decoded.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Mutex,
};

use image::DynamicImage;

use super::options::IndexOptions;
use super::plan::Plan;
use super::words::TextSeen;
use crate::{catalog::Catalog, ingest::pipeline::Triage, ingest::thumbs, media::photo_meta::PhotoMeta, Result};

/// What happens to a file once its content hash is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// New content: through the encoder. `new`: a new path (else an edited file).
    Embed { new: bool },
    /// The file's size or mtime changed, its content did not (row id).
    Touch(i64),
    /// Content of a row whose path is gone: that row moves here (row id).
    Rename(i64),
    /// Content already indexed (or being indexed) under another path: its embedding is reused.
    Duplicate,
}

/// Decides, on the decode threads, what each candidate's content needs (the pipeline's triage),
/// and writes thumbnails of what gets decoded.
pub(super) struct Sorter<'a> {
    plan: &'a Plan,
    /// The catalog as committed, for content indexed before this run.
    committed: Mutex<Catalog>,
    /// Thumbnails that could not be written.
    pub(super) thumbnail_failures: std::sync::atomic::AtomicUsize,
    index_dir: &'a Path,
    thumbnails: bool,
    pub(super) state: Mutex<SortState>,
    /// What the text-presence test said of each decoded image and frame.
    pub(super) text_seen: TextSeen,
    /// Whether words are read in this run (else the presence test is not run).
    reads_words: bool,
}

#[derive(Default)]
pub(super) struct SortState {
    /// Content hashes of rows whose path is gone, to their row ids: renames claim them.
    pub(super) gone: HashMap<String, Vec<i64>>,
    /// Content this run is embedding (the catalog is asked about content indexed before).
    known: HashSet<String>,
    /// By candidate index: what was decided, from which content hash.
    pub(super) decisions: Vec<Option<(Decision, String)>>,
    /// Duplicates whose content had no embedding when they were committed, with their metadata.
    pub(super) deferred: Vec<(usize, PhotoMeta)>,
}

impl<'a> Sorter<'a> {
    pub(super) fn new(plan: &'a Plan, options: &'a IndexOptions) -> Result<Sorter<'a>> {
        let mut state = SortState { decisions: vec![None; plan.candidates.len()], ..SortState::default() };
        for row in &plan.gone {
            state.gone.entry(row.hash.clone()).or_default().push(row.id);
        }
        Ok(Sorter {
            plan,
            committed: Mutex::new(Catalog::open_read_only(&options.index_dir)?),
            thumbnail_failures: Default::default(),
            index_dir: &options.index_dir,
            thumbnails: options.thumbnails,
            state: Mutex::new(state),
            text_seen: TextSeen::default(),
            reads_words: options.ocr.is_some(),
        })
    }

    /// Whether content `hash` was indexed before this run (a lookup failure counts as no: the
    /// file is then embedded, which is never wrong, only slower).
    fn indexed_before(&self, hash: &str) -> bool {
        self.committed.lock().unwrap_or_else(|p| p.into_inner()).has_hash(hash).unwrap_or(false)
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, SortState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn decision(&self, i: usize) -> Option<(Decision, String)> {
        self.state().decisions[i].clone()
    }
}

impl Triage for Sorter<'_> {
    fn needs_embedding(&self, i: usize, hash: &str) -> bool {
        let mut state = self.state();
        let decision = match &self.plan.candidates[i].1 {
            Some(row) if row.hash == hash => Decision::Touch(row.id),
            Some(_) => {
                state.known.insert(hash.to_string());
                Decision::Embed { new: false }
            }
            None => match state.gone.get_mut(hash).and_then(Vec::pop) {
                Some(id) => Decision::Rename(id),
                None if !state.known.insert(hash.to_string()) || self.indexed_before(hash) => Decision::Duplicate,
                None => Decision::Embed { new: true },
            },
        };
        state.decisions[i] = Some((decision, hash.to_string()));
        matches!(decision, Decision::Embed { .. })
    }

    fn decoded(&self, i: usize, hash: &str, image: &DynamicImage) {
        self.thumbnail(i, hash, image);
        if self.reads_words {
            self.text_seen.record(hash, image);
        }
    }

    fn decoded_frame(&self, i: usize, hash: &str, ms: i64, image: &DynamicImage) {
        let key = thumbs::frame_key(hash, ms);
        self.thumbnail(i, &key, image);
        if self.reads_words {
            self.text_seen.record(&key, image);
        }
    }
}

impl Sorter<'_> {
    fn thumbnail(&self, i: usize, key: &str, image: &DynamicImage) {
        if self.thumbnails {
            if let Err(e) = thumbs::ensure(self.index_dir, key, image) {
                self.thumbnail_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!("thumbnail for {}: {e}", self.plan.candidates[i].0.rel);
            }
        }
    }
}
