//! Building and updating an index: scan the folder, work out what changed since the last run,
//! embed only new and changed files, and keep catalog, vectors and thumbnails consistent.
//!
//! Each new or changed file is read once: its bytes are hashed on a decode thread, and only
//! content the catalog does not already hold is decoded and embedded (the same content under a
//! new path is a rename or a duplicate; an edited file that hashes the same is only touched).
//!
//! Crash safety: every `checkpoint` files, the new vectors are appended to the vector file and
//! synced, then the rows that point at them are committed with the vector log (see
//! [`crate::store::snapshot`]): the vector index is never rebuilt from scratch, and a kill at any
//! step leaves the last commit searchable. After the run the size policy may train a new
//! approximate index or fold the log into it; the old one serves until the new one is committed.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use image::DynamicImage;

use serde::Serialize;

pub use super::run_status::Skipped;
use crate::{
    catalog::identity::{self, Recorded},
    catalog::vector_file::{self, VectorAppender, FILE_KEY, SLOTS_KEY},
    catalog::{Catalog, ImageRow, NewImage, SkippedRow, VideoSpan, Writer},
    clip::Clip,
    ingest::pipeline::{self, PipelineOptions, Read, Triage},
    ingest::roots::Roots,
    ingest::run_status::StatusFile,
    ingest::scan::{self, FoundFile, ScanOptions},
    ingest::thumbs,
    ingest::writer_lock::{self, WriterLock},
    media::photo_meta::{self, PhotoMeta, Taken},
    media::video::SamplingOptions,
    store::choice::{StoreChoice, REMOTE_MARKER_KEY, STORE_KEY},
    store::faiss_store::normalise_factory,
    store::policy::{FactoryChoice, IndexPolicy},
    store::snapshot,
    support::progress::{Progress, Silent},
    EngineError, Result,
};

/// What to index, where to keep the index, and how.
#[derive(Clone)]
pub struct IndexOptions {
    /// The folders of images to index (one or more: see [`Roots`]).
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
}

impl IndexOptions {
    /// Options to index the folder `data` into `index_dir`: batch 8, checkpoint 256, thumbnails
    /// on, the index's factory kept.
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
        }
    }
}

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

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Refuses an index built with another model, unless rebuilding or allowed to start again.
fn check_model(catalog: &mut Catalog, clip: &Clip, options: &IndexOptions) -> Result<()> {
    let identity = identity::of(clip)?;
    let recorded = identity::compare(catalog, &identity)?;
    if let Recorded::Other(name) = &recorded {
        if !options.rebuild && !options.rebuild_on_model_change {
            return Err(EngineError::ModelMismatch(format!(
                "this index was built with the model `{name}`, not `{}` (different files). Use that model \
                 (--model), or re-embed everything with --rebuild",
                clip.spec().name
            )));
        }
        tracing::warn!("the index was built with `{name}`: re-embedding everything with `{}`", clip.spec().name);
    }
    if options.rebuild || recorded != Recorded::Same {
        // A new vector file: the old one may hold vectors of another dimension.
        let next = vector_file::number(catalog.meta(FILE_KEY)?.as_deref()).map_or(1, |n| n + 1);
        catalog.write(|w| {
            w.delete_all()?;
            w.set_meta(FILE_KEY, &vector_file::file_name(next))?;
            w.set_meta(SLOTS_KEY, "0")?;
            w.bump_generation()?;
            identity::record(w, clip, &identity)
        })?;
    }
    Ok(())
}

/// Indexes the folders `options.data` with `clip` into `options.index_dir`.
pub fn run(clip: &Clip, options: &IndexOptions) -> Result<Summary> {
    let started = Instant::now();
    // Held to the end of the run: one writer per index.
    let (_lock, mut catalog, roots, factory) = open_catalog(clip, options)?;
    // Checked before any embedding: a Milvus that is down or holds another model fails now.
    let remote = open_remote_store(&mut catalog, clip, options)?;
    // Published while the run lasts, for a server to show.
    let status = StatusFile::start(&options.index_dir);
    let thumbnails_checked = thumbnails_as_left(&catalog, &options.index_dir)?;
    if !thumbnails_checked {
        let cleaned = thumbs::clean_temporary(&options.index_dir);
        if cleaned > 0 {
            tracing::info!("removed {cleaned} temporary thumbnail files an interrupted run left behind");
        }
    }
    let mut vectors = open_vectors(&catalog, &options.index_dir, clip.dim())?;
    tracing::debug!("catalog open at {:.2} s", started.elapsed().as_secs_f64());
    let full_scan = needs_full_scan(&catalog, options)?;
    let unchanged_since = if full_scan { HashMap::new() } else { catalog.folders()? };
    let scan = scan::scan_roots(&roots, &ScanOptions { exclude: options.exclude.clone(), skip_dir: Some(options.index_dir.clone()), unchanged_since })?;
    tracing::debug!("scanned {} files in {:.2} s (full: {full_scan})", scan.files.len(), started.elapsed().as_secs_f64());
    // Before any file is read: a server serves files outside the folders only under these.
    crate::ingest::original::record_links(&mut catalog, &scan.links)?;
    let mut plan = plan(&catalog, &roots, &catalog.skipped()?, scan.files)?;
    let unsettled = plan.leave_unsettled(options.settle);
    let videos_waiting = plan.leave_videos_without_ffmpeg();
    tracing::debug!("compared with the catalog at {:.2} s: {} to read", started.elapsed().as_secs_f64(), plan.candidates.len());
    let mut summary = Summary {
        unsettled,
        videos_waiting,
        unchanged: plan.unchanged,
        skipped: plan.known_skipped.clone(),
        scan_problems: scan.problems.iter().map(|(p, r)| Skipped { path: p.clone(), reason: r.clone() }).collect(),
        ..Summary::default()
    };

    let embed_started = Instant::now();
    let sorter = Sorter::new(&plan, options)?;
    status.phase("embedding", plan.candidates.len() as u64);
    read_and_embed(clip, &mut catalog, &mut vectors, &roots, &plan, &sorter, options, &status, &mut summary)?;
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    let outcome = finish(&mut catalog, &mut vectors, &plan, sorter, &mut summary)?;
    fill_missing_photo_meta(&mut catalog, &roots)?;
    match options.thumbnails {
        true => tidy_thumbnails(&catalog, &roots, options, thumbnails_checked, &outcome, &mut summary)?,
        // Images indexed now have no thumbnail: the next run with thumbnails checks them all.
        false => catalog.set_meta(THUMBNAILS_CHECKED, "")?,
    }

    crate::catalog::compaction::compact_if_wasteful(&mut catalog, &options.index_dir, clip.dim())?;
    tracing::debug!("committed at {:.2} s", started.elapsed().as_secs_f64());
    status.phase("indexing vectors", 0);
    summary.vector_index = match &remote {
        Some(remote) => sync_remote_store(&mut catalog, remote, clip, options, &status, &mut summary)?,
        None => snapshot::maintain(&mut catalog, &options.index_dir, clip.dim(), &factory, &options.policy)?,
    };
    summary.vectors_written = summary.vector_index.written;
    crate::catalog::compaction::remove_unused(&catalog, &options.index_dir)?;
    // With files left for later, the folder times must not say their folders were seen whole.
    if unsettled == 0 {
        record_scan(&mut catalog, options, &scan.folders, full_scan)?;
    }
    summary.total = catalog.count()?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.images_per_second = if summary.embedded > 0 { summary.embedded as f64 / embed_seconds } else { 0.0 };
    Ok(summary)
}

/// Takes the writer lock, opens (or creates) the catalog, checks the model and records the run's
/// settings and folders. Returns the lock, the catalog, the folders and the vector index choice.
fn open_catalog(clip: &Clip, options: &IndexOptions) -> Result<(WriterLock, Catalog, Roots, FactoryChoice)> {
    let index_dir = &options.index_dir;
    // Checked before the lock file is opened: a planted link must not be written through.
    crate::support::index_folder::create(index_dir)?;
    let lock = writer_lock::acquire(index_dir)?;
    let mut catalog = Catalog::open(index_dir)?;
    check_model(&mut catalog, clip, options)?;
    let before = Roots::recorded(&catalog)?;
    let roots = Roots::choose(&options.data, &before)?;
    roots.record(&mut catalog, &before)?;

    let choice = match (&options.factory, catalog.meta("factory")?) {
        (Some(f), _) => FactoryChoice::parse(f),
        (None, Some(stored)) => FactoryChoice::parse(&stored),
        (None, None) => FactoryChoice::Auto,
    };
    if let FactoryChoice::Fixed(f) = &choice {
        normalise_factory(f)?;
    }
    if let Ok(model_dir) = clip.dir().canonicalize() {
        catalog.set_meta("model_dir", &model_dir.to_string_lossy())?;
    }
    catalog.set_meta("factory", choice.as_str())?;
    Ok((lock, catalog, roots, choice))
}

/// The remote store this run keeps up to date: the one given (recorded for later runs), else the
/// one the catalog records; None for the embedded store. Its collection is created, or checked
/// to hold this model's vectors (dropped and made again when the run starts the index again).
#[cfg(feature = "milvus")]
type RemoteStore = crate::store::milvus::Remote;
#[cfg(not(feature = "milvus"))]
type RemoteStore = std::convert::Infallible;

fn open_remote_store(catalog: &mut Catalog, clip: &Clip, options: &IndexOptions) -> Result<Option<RemoteStore>> {
    let recorded = catalog.meta(STORE_KEY)?;
    let store = match (&options.store, &recorded) {
        (Some(given), _) => given.clone(),
        (None, Some(text)) => StoreChoice::from_recorded(text, &options.index_dir).map_err(EngineError::Usage)?,
        (None, None) => StoreChoice::Local,
    };
    if options.store.is_some() {
        store.save_password(&options.index_dir).map_err(|source| EngineError::Io { path: options.index_dir.join(crate::store::choice::PASSWORD_FILE), source })?;
    }
    if recorded.as_deref() != Some(store.recorded().as_str()) {
        // Another store: whatever the catalog remembers of a remote one no longer applies.
        catalog.write(|w| {
            w.set_meta(STORE_KEY, &store.recorded())?;
            w.delete_meta(REMOTE_MARKER_KEY)?;
            w.clear_remote_rows()
        })?;
        tracing::info!("vector store: {store}");
    }
    match store {
        StoreChoice::Local => Ok(None),
        #[cfg(feature = "milvus")]
        StoreChoice::Milvus(url) => {
            let remote = crate::store::milvus::Remote::new(url)?;
            let replace = options.rebuild || options.rebuild_on_model_change;
            remote.ensure_collection(clip.dim(), &identity::of(clip)?, &clip.spec().name, replace)?;
            Ok(Some(remote))
        }
        #[cfg(not(feature = "milvus"))]
        StoreChoice::Milvus(url) => Err(crate::store::choice::without_milvus(&url)),
    }
}

/// Brings the remote store up to date with the catalog (instead of the embedded store's
/// snapshot maintenance).
#[cfg(feature = "milvus")]
fn sync_remote_store(catalog: &mut Catalog, remote: &RemoteStore, clip: &Clip, options: &IndexOptions, status: &StatusFile, summary: &mut Summary) -> Result<snapshot::Maintenance> {
    crate::support::killpoint::pause("remote-sync");
    status.phase("uploading vectors to Milvus", 0);
    let report = crate::store::milvus::sync(catalog, &options.index_dir, clip.dim(), remote, &|done, total| {
        tracing::debug!("uploaded {done} of {total} vectors to Milvus");
    })?;
    if report.verified {
        tracing::info!("checked every row of the Milvus collection {} against the catalog", remote.url().collection);
    }
    (summary.uploaded, summary.remote_deleted) = (report.uploaded, report.deleted);
    summary.remote_store = Some(remote.url().to_string());
    Ok(snapshot::Maintenance {
        factory: remote.url().describe(),
        written: report.uploaded + report.deleted > 0,
        recall: remote.url().index.is_exact().then_some(1.0),
        ..snapshot::Maintenance::default()
    })
}

#[cfg(not(feature = "milvus"))]
fn sync_remote_store(_: &mut Catalog, remote: &RemoteStore, _: &Clip, _: &IndexOptions, _: &StatusFile, _: &mut Summary) -> Result<snapshot::Maintenance> {
    match *remote {}
}

/// Meta keys: when the last full scan ran (Unix seconds), and with which exclusions.
const FULL_SCAN_AT: &str = "full_scan_at";
const SCANNED_WITH: &str = "scanned_with";
/// A full scan at least this often, for files rewritten in place.
const FULL_SCAN_EVERY: i64 = 24 * 3600;

/// Whether this run must read every file's size and mtime: asked to, no folder times recorded
/// yet, other exclusions than last time, or the last full scan is a day old.
fn needs_full_scan(catalog: &Catalog, options: &IndexOptions) -> Result<bool> {
    let last = catalog.meta(FULL_SCAN_AT)?.and_then(|t| t.parse::<i64>().ok());
    let same_exclusions = catalog.meta(SCANNED_WITH)?.is_some_and(|e| e == options.exclude.join("\n"));
    Ok(options.full_scan || !same_exclusions || last.is_none_or(|t| now_secs() - t >= FULL_SCAN_EVERY))
}

/// After a complete run: the folders' times, so the next run can trust unchanged folders.
fn record_scan(catalog: &mut Catalog, options: &IndexOptions, folders: &[(String, i64)], full: bool) -> Result<()> {
    catalog.write(|w| {
        w.set_folders(folders)?;
        w.set_meta(SCANNED_WITH, &options.exclude.join("\n"))?;
        if full {
            w.set_meta(FULL_SCAN_AT, &now_secs().to_string())?;
        }
        Ok(())
    })
}

/// Opens the vector file for appending after its committed vectors (a new index starts one).
fn open_vectors(catalog: &Catalog, index_dir: &Path, dim: usize) -> Result<VectorAppender> {
    let name = match catalog.meta(FILE_KEY)? {
        Some(name) => name,
        None => {
            let name = vector_file::file_name(1);
            catalog.set_meta(FILE_KEY, &name)?;
            name
        }
    };
    let committed = catalog.meta(SLOTS_KEY)?.and_then(|s| s.parse().ok()).unwrap_or(0);
    VectorAppender::open(&index_dir.join(name), committed, dim)
}

/// What the scan found compared with the catalog, decided from paths, sizes and mtimes alone.
struct Plan {
    unchanged: usize,
    /// Files that failed before and have not changed since: reported, not read again.
    known_skipped: Vec<Skipped>,
    /// Files to read: new paths, and paths whose size or mtime changed (with their row).
    candidates: Vec<(FoundFile, Option<ImageRow>)>,
    /// Rows whose path the scan did not find: renamed (when their content turns up under a new
    /// path) or removed.
    gone: Vec<ImageRow>,
}

/// Merges the scan (sorted by path) with the catalog's rows streamed in the same order: only
/// the rows that differ are kept.
fn plan(catalog: &Catalog, roots: &Roots, skipped: &HashMap<String, SkippedRow>, found: Vec<FoundFile>) -> Result<Plan> {
    let mut plan = Plan { unchanged: 0, known_skipped: Vec::new(), candidates: Vec::new(), gone: Vec::new() };
    let mut files = found.into_iter().peekable();
    catalog.each_by_path(|stored| {
        let path = stored.path()?;
        while let Some(file) = files.next_if(|f| f.rel.as_str() < path) {
            plan.add_new(file, roots, skipped);
        }
        match files.next_if(|f| f.rel == path) {
            Some(file) if file.trusted || stored.size_and_mtime()? == (file.size, file.mtime_ns) => plan.unchanged += 1,
            Some(file) => plan.candidates.push((file, Some(stored.row()?))),
            None => plan.gone.push(stored.row()?),
        }
        Ok(())
    })?;
    for file in files {
        plan.add_new(file, roots, skipped);
    }
    Ok(plan)
}

impl Plan {
    /// Takes out the candidates modified less than `settle` ago; returns how many.
    fn leave_unsettled(&mut self, settle: std::time::Duration) -> usize {
        if settle.is_zero() {
            return 0;
        }
        let newest_settled = now_nanos() - settle.as_nanos() as i64;
        let before = self.candidates.len();
        self.candidates.retain(|(file, _)| file.mtime_ns <= newest_settled);
        before - self.candidates.len()
    }

    /// Without a working `ffmpeg`, takes the videos out of the candidates (not recorded as
    /// broken: they are read once `ffmpeg` is there); returns how many, and why.
    fn leave_videos_without_ffmpeg(&mut self) -> Option<(usize, String)> {
        let is_video = |file: &FoundFile| crate::ingest::scan::is_video_name(&file.rel);
        if !self.candidates.iter().any(|(file, _)| is_video(file)) {
            return None;
        }
        let missing = crate::media::video::ffmpeg_version().err()?;
        let before = self.candidates.len();
        self.candidates.retain(|(file, _)| !is_video(file));
        let waiting = before - self.candidates.len();
        tracing::warn!("{waiting} videos left for a later run: {missing}");
        Some((waiting, missing.to_string()))
    }

    /// A path the catalog does not have: read it, unless it failed before unchanged.
    fn add_new(&mut self, mut file: FoundFile, roots: &Roots, skipped: &HashMap<String, SkippedRow>) {
        if file.trusted {
            // Not in the catalog although its folder is unchanged (a broken file, or one a
            // killed run did not commit): its size and mtime are needed after all.
            let Ok(meta) = std::fs::metadata(roots.file(&file.rel)) else { return };
            (file.size, file.mtime_ns, file.trusted) = (meta.len(), scan::mtime_ns(&meta), false);
        }
        match skipped.get(&file.rel) {
            Some(s) if (s.size, s.mtime_ns) == (file.size, file.mtime_ns) => {
                self.known_skipped.push(Skipped { path: file.rel, reason: s.reason.clone() })
            }
            _ => self.candidates.push((file, None)),
        }
    }
}

/// What happens to a file once its content hash is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
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
struct Sorter<'a> {
    plan: &'a Plan,
    /// The catalog as committed, for content indexed before this run.
    committed: Mutex<Catalog>,
    /// Thumbnails that could not be written.
    thumbnail_failures: std::sync::atomic::AtomicUsize,
    index_dir: &'a Path,
    thumbnails: bool,
    state: Mutex<SortState>,
}

#[derive(Default)]
struct SortState {
    /// Content hashes of rows whose path is gone, to their row ids: renames claim them.
    gone: HashMap<String, Vec<i64>>,
    /// Content this run is embedding (the catalog is asked about content indexed before).
    known: HashSet<String>,
    /// By candidate index: what was decided, from which content hash.
    decisions: Vec<Option<(Decision, String)>>,
    /// Duplicates whose content had no embedding when they were committed, with their metadata.
    deferred: Vec<(usize, PhotoMeta)>,
}

impl<'a> Sorter<'a> {
    fn new(plan: &'a Plan, options: &'a IndexOptions) -> Result<Sorter<'a>> {
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
        })
    }

    /// Whether content `hash` was indexed before this run (a lookup failure counts as no: the
    /// file is then embedded, which is never wrong, only slower).
    fn indexed_before(&self, hash: &str) -> bool {
        self.committed.lock().unwrap_or_else(|p| p.into_inner()).has_hash(hash).unwrap_or(false)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SortState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn decision(&self, i: usize) -> Option<(Decision, String)> {
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
    }

    fn decoded_frame(&self, i: usize, hash: &str, ms: i64, image: &DynamicImage) {
        self.thumbnail(i, &thumbs::frame_key(hash, ms), image);
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

/// Runs the candidates through the pipeline, committing every `checkpoint` outcomes.
#[allow(clippy::too_many_arguments)]
fn read_and_embed(
    clip: &Clip,
    catalog: &mut Catalog,
    vectors: &mut VectorAppender,
    roots: &Roots,
    plan: &Plan,
    sorter: &Sorter<'_>,
    options: &IndexOptions,
    status: &StatusFile,
    summary: &mut Summary,
) -> Result<()> {
    let paths: Vec<PathBuf> = plan.candidates.iter().map(|(f, _)| roots.file(&f.rel)).collect();
    options.progress.begin("embedding", Some(paths.len() as u64), 0);
    let mut pending: Vec<(usize, Result<Read>)> = Vec::new();
    let mut failure = None;
    let pipeline_options = PipelineOptions { batch: options.batch.max(1), decoders: 0, max_file_bytes: options.max_file_bytes, video: options.video.clone() };
    let piped = pipeline::embed_files_with(clip, &paths, pipeline_options, sorter, |i, outcome| {
        options.progress.advance(1);
        status.advance(&plan.candidates[i].0.rel, outcome.as_ref().err().map(skip_reason));
        pending.push((i, outcome));
        if pending.len() >= options.checkpoint.max(1) && failure.is_none() {
            failure = commit(catalog, vectors, plan, sorter, &mut pending, summary).err();
        }
    });
    options.progress.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    piped?;
    commit(catalog, vectors, plan, sorter, &mut pending, summary)
}

/// Writes what the pipeline produced for these files in one transaction.
fn commit(
    catalog: &mut Catalog,
    vectors: &mut VectorAppender,
    plan: &Plan,
    sorter: &Sorter<'_>,
    pending: &mut Vec<(usize, Result<Read>)>,
    summary: &mut Summary,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let now = now_secs();
    let done = std::mem::take(pending);
    let mut frames = 0;
    let mut dropped = 0;
    let counted = catalog.write_vectors(vectors, |w, vectors| {
        let mut counted = Vec::with_capacity(done.len());
        for (i, outcome) in &done {
            let (file, indexed) = &plan.candidates[*i];
            counted.push(match (outcome, sorter.decision(*i)) {
                (Err(e), _) => {
                    let reason = skip_reason(e);
                    w.skip(&file.rel, file.size, file.mtime_ns, &reason)?;
                    // A changed file that no longer decodes is not what its row and vector say.
                    if let Some(row) = indexed {
                        w.delete(row.id)?;
                        dropped += 1;
                    }
                    Counted::Skipped(reason)
                }
                (Ok(read), Some((decision, _))) => {
                    frames += read.video.as_ref().map_or(0, |v| v.frames.len() + 1);
                    apply(w, vectors, file, read, decision, now)?
                }
                (Ok(_), None) => unreachable!("the pipeline asks the sorter about every file it reads"),
            });
        }
        if dropped > 0 || counted.iter().any(Counted::changes_vectors) {
            w.bump_generation()?;
        }
        if counted.iter().any(Counted::is_indexed) {
            w.set_meta("last_indexed", &now.to_string())?;
        }
        Ok(counted)
    })?;
    summary.video_frames += frames;
    summary.removed += dropped;
    for ((i, outcome), counted) in done.into_iter().zip(counted) {
        if let (Counted::DuplicateLater, Ok(read)) = (&counted, outcome) {
            sorter.state().deferred.push((i, read.meta));
        }
        summary.count(&plan.candidates[i].0.rel, counted);
    }
    Ok(())
}

/// What one file's outcome adds to the summary.
enum Counted {
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
    fn is_indexed(&self) -> bool {
        matches!(self, Counted::New | Counted::Changed | Counted::Duplicate)
    }

    /// Whether the catalog's set of (id, vector, path) rows changed, so the vectors must be rewritten.
    fn changes_vectors(&self) -> bool {
        matches!(self, Counted::New | Counted::Changed | Counted::Renamed | Counted::Duplicate)
    }
}

impl Summary {
    fn count(&mut self, path: &str, counted: Counted) {
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

/// Records one read file in the catalog as its decision says.
fn apply(w: &Writer<'_>, vectors: &mut VectorAppender, file: &FoundFile, read: &Read, decision: Decision, now: i64) -> Result<Counted> {
    let meta = with_file_time(&read.meta, file.mtime_ns);
    Ok(match decision {
        Decision::Embed { new } => {
            let e = read.embedded.as_ref().expect("embedded files carry an embedding");
            let image = NewImage {
                path: &file.rel,
                size: file.size,
                mtime_ns: file.mtime_ns,
                hash: &read.hash,
                width: e.width,
                height: e.height,
                meta: &meta,
                video: read.video.as_ref().map(|v| VideoSpan { duration_ms: v.duration_ms, frame_ms: v.first_ms }),
            };
            let id = w.upsert(&image, &e.embedding, vectors, now)?;
            if let Some(video) = &read.video {
                let frames: Vec<(i64, &[f32])> = video.frames.iter().map(|(ms, v)| (*ms, v.as_slice())).collect();
                w.add_frames(id, &frames, vectors)?;
            }
            w.unskip(&file.rel)?;
            if new { Counted::New } else { Counted::Changed }
        }
        Decision::Touch(id) => {
            w.touch(id, file.size, file.mtime_ns)?;
            w.set_photo_meta(id, &meta)?;
            Counted::Unchanged
        }
        Decision::Rename(id) => {
            w.move_image(id, &file.rel, file.size, file.mtime_ns)?;
            w.set_photo_meta(id, &meta)?;
            w.unskip(&file.rel)?;
            Counted::Renamed
        }
        Decision::Duplicate => match add_duplicate(w, vectors, file, &read.hash, &meta, now)? {
            true => Counted::Duplicate,
            false => Counted::DuplicateLater,
        },
    })
}

/// The file's EXIF metadata, its modification time standing in for a capture time EXIF lacks.
fn with_file_time(meta: &PhotoMeta, mtime_ns: i64) -> PhotoMeta {
    PhotoMeta { taken: meta.taken.or(Some(Taken::from_file_time(mtime_ns))), ..meta.clone() }
}

/// Stores a duplicate with the embeddings (a video's frames too) of the indexed file of the
/// same content; false when that content has no embedding (yet).
fn add_duplicate(w: &Writer<'_>, vectors: &mut VectorAppender, file: &FoundFile, hash: &str, meta: &PhotoMeta, now: i64) -> Result<bool> {
    let Some(original) = w.image_of_hash(hash)? else { return Ok(false) };
    let embedding = vectors.read(original.slot, original.id)?;
    let (width, height, video) = (original.width, original.height, original.video);
    let image = NewImage { path: &file.rel, size: file.size, mtime_ns: file.mtime_ns, hash, width, height, meta, video };
    let id = w.upsert(&image, &embedding, vectors, now)?;
    let frames = (w.frames_of(original.id)?.into_iter())
        .map(|f| Ok((f.ms, vectors.read(f.slot, f.vector_id)?)))
        .collect::<Result<Vec<_>>>()?;
    if !frames.is_empty() {
        w.add_frames(id, &frames.iter().map(|(ms, v)| (*ms, v.as_slice())).collect::<Vec<_>>(), vectors)?;
    }
    w.unskip(&file.rel)?;
    Ok(true)
}

/// After the pipeline: duplicates of content embedded later in the run, and rows whose path is
/// gone and whose content turned up nowhere (removed).
/// What the end of a run leaves for the thumbnail tidy.
struct Finished {
    /// Content hashes of removed images and of edited images' old content.
    old_hashes: Vec<String>,
    /// Thumbnails the run could not write.
    thumbnail_failures: usize,
}

fn finish(catalog: &mut Catalog, vectors: &mut VectorAppender, plan: &Plan, sorter: Sorter<'_>, summary: &mut Summary) -> Result<Finished> {
    let thumbnail_failures = sorter.thumbnail_failures.into_inner();
    let state = sorter.state.into_inner().unwrap_or_else(|p| p.into_inner());
    let failed: HashMap<&str, &Skipped> = summary.skipped.iter().map(|s| (s.path.as_str(), s)).collect();
    let broken: HashMap<&str, String> = (state.decisions.iter().enumerate())
        .filter_map(|(i, d)| d.as_ref().filter(|(d, _)| matches!(d, Decision::Embed { .. })).map(|(_, hash)| (i, hash)))
        .filter_map(|(i, hash)| failed.get(plan.candidates[i].0.rel.as_str()).map(|s| (hash.as_str(), format!("same content as {}: {}", s.path, s.reason))))
        .collect();
    let removed: Vec<i64> = state.gone.values().flatten().copied().collect();
    let mut deferred = state.deferred.clone();
    deferred.sort_unstable_by_key(|(i, _)| *i);
    let now = now_secs();
    let outcomes = catalog.write_vectors(vectors, |w, vectors| {
        let mut outcomes = Vec::new();
        for (i, meta) in &deferred {
            let file = &plan.candidates[*i].0;
            let hash = state.decisions[*i].as_ref().expect("deferred files were decided").1.as_str();
            let meta = with_file_time(meta, file.mtime_ns);
            outcomes.push((*i, match add_duplicate(w, vectors, file, hash, &meta, now)? {
                true => Counted::Duplicate,
                false => {
                    let reason = broken.get(hash).cloned().unwrap_or_else(|| "its content could not be indexed".into());
                    w.skip(&file.rel, file.size, file.mtime_ns, &reason)?;
                    Counted::Skipped(reason)
                }
            }));
        }
        for id in &removed {
            w.delete(*id)?;
        }
        if !removed.is_empty() || outcomes.iter().any(|(_, c)| c.changes_vectors()) {
            w.bump_generation()?;
        }
        Ok(outcomes)
    })?;
    for (i, counted) in outcomes {
        summary.count(&plan.candidates[i].0.rel, counted);
    }
    summary.removed += removed.len();
    let edited = (plan.candidates.iter().zip(&state.decisions))
        .filter(|(_, d)| matches!(d, Some((Decision::Embed { new: false }, _))))
        .filter_map(|((_, row), _)| row.as_ref());
    let removed_rows = plan.gone.iter().filter(|row| removed.contains(&row.id));
    Ok(Finished { old_hashes: edited.chain(removed_rows).map(|row| row.hash.clone()).collect(), thumbnail_failures })
}

/// Reads the metadata of images an upgraded catalog has none for (format 2 kept none): the
/// start of each file, where EXIF lives, not its pixels; committed a chunk at a time, so a
/// killed run keeps what it read.
fn fill_missing_photo_meta(catalog: &mut Catalog, roots: &Roots) -> Result<()> {
    const CHUNK: usize = 512;
    let mut filled = 0;
    loop {
        let rows = catalog.without_photo_meta(CHUNK)?;
        if rows.is_empty() {
            break;
        }
        let metas: Vec<PhotoMeta> = rows.iter().map(|(_, path, mtime_ns)| with_file_time(&photo_meta::read_file_start(&roots.file(path)), *mtime_ns)).collect();
        catalog.write(|w| rows.iter().zip(&metas).try_for_each(|((id, _, _), meta)| w.set_photo_meta(*id, meta)))?;
        filled += rows.len();
    }
    if filled > 0 {
        tracing::info!("read the capture time, camera and location of {filled} images indexed before clipfind kept them");
    }
    Ok(())
}

/// Meta key of the thumbnail folder's fingerprint when it was last checked complete.
const THUMBNAILS_CHECKED: &str = "thumbnails_checked";

/// Whether the thumbnail folder is as the last complete check left it (then nothing is missing
/// and no temporary file was left behind since).
fn thumbnails_as_left(catalog: &Catalog, index_dir: &Path) -> Result<bool> {
    Ok(catalog.meta(THUMBNAILS_CHECKED)?.is_some_and(|f| f == thumbs::fingerprint(index_dir)))
}

/// Keeps the thumbnail folder in step with the catalog. When the folder was as the last run
/// left it, only this run's changes matter: thumbnails of content no image has any more are
/// deleted. Otherwise (a thumbnail deleted by hand, a failed write, a crash's temporary file)
/// every image is checked: missing thumbnails are made and unused ones deleted.
fn tidy_thumbnails(catalog: &Catalog, roots: &Roots, options: &IndexOptions, checked: bool, finished: &Finished, summary: &mut Summary) -> Result<()> {
    let complete = match checked {
        true => {
            for hash in &finished.old_hashes {
                if !catalog.has_hash(hash)? {
                    let _ = std::fs::remove_file(thumbs::path(&options.index_dir, hash));
                }
            }
            finished.thumbnail_failures == 0
        }
        false => {
            let rows = catalog.images()?;
            let stored = thumbs::stored(&options.index_dir);
            let mut wanted = HashSet::new();
            let missing: Vec<&ImageRow> = rows.iter().filter(|r| wanted.insert(r.hash.clone()) && !stored.contains(&r.hash)).collect();
            summary.thumbnails_made = make_thumbnails(&missing, roots, options);
            thumbs::prune(&options.index_dir, &wanted);
            summary.thumbnails_made == missing.len()
        }
    };
    catalog.set_meta(THUMBNAILS_CHECKED, &if complete { thumbs::fingerprint(&options.index_dir) } else { String::new() })
}

/// Writes the thumbnails of `rows` on two threads; returns how many were made.
fn make_thumbnails(rows: &[&ImageRow], roots: &Roots, options: &IndexOptions) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let (next, made) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while let Some(row) = rows.get(next.fetch_add(1, Relaxed)) {
                    let file = roots.file(&row.path);
                    let small_enough = std::fs::metadata(&file).is_ok_and(|m| m.len() <= options.max_file_bytes);
                    if small_enough && thumbs::make_from_file(&options.index_dir, &row.hash, &file).is_ok() {
                        made.fetch_add(1, Relaxed);
                    }
                }
            });
        }
    });
    made.into_inner()
}

fn skip_reason(e: &EngineError) -> String {
    match e {
        EngineError::Image { reason, .. } => reason.clone(),
        other => other.chain(),
    }
}
