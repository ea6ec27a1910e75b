//! Building and updating an index: scan the folder, work out what changed since the last run,
//! embed only new and changed files, and keep catalog, vectors and thumbnails consistent.
//!
//! Crash safety: the catalog commits every `checkpoint` embedded images, and the FAISS file is
//! written to a temporary name and renamed. The catalog records which catalog generation the
//! FAISS file holds; a stale or missing FAISS file is rebuilt from the catalog when loaded.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use indicatif::ProgressBar;
use serde::Serialize;

use super::{
    catalog::{Catalog, ImageRow, NewImage},
    clip::{
        pipeline::{self, Embedded, PipelineOptions},
        Clip,
    },
    scan::{self, FoundFile, ScanOptions},
    thumbs,
    vectors::{VectorIndex, DEFAULT_FACTORY},
    EngineError, Result,
};

pub const VECTORS_FILE: &str = "vectors.faiss";

#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub data: PathBuf,
    pub index_dir: PathBuf,
    /// Images per vision encoder run.
    pub batch: usize,
    /// FAISS factory string; None keeps the index's current one (Flat for a new index).
    pub factory: Option<String>,
    pub exclude: Vec<String>,
    /// Drop everything and start again (needed to change models).
    pub rebuild: bool,
    /// Start again only when the index was built with another model (else keep it and update).
    pub rebuild_on_model_change: bool,
    /// Commit to the catalog every this many embedded images.
    pub checkpoint: usize,
    pub thumbnails: bool,
    pub progress: ProgressBar,
}

impl IndexOptions {
    pub fn new(data: PathBuf, index_dir: PathBuf) -> Self {
        IndexOptions {
            data,
            index_dir,
            batch: 8,
            factory: None,
            exclude: Vec::new(),
            rebuild: false,
            rebuild_on_model_change: false,
            checkpoint: 256,
            thumbnails: true,
            progress: ProgressBar::hidden(),
        }
    }
}

/// A file that was not indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Images in the index after the run.
    pub total: u64,
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Same content under a new path: moved, no encoder run.
    pub renamed: usize,
    pub removed: usize,
    /// New files whose content was already indexed under another path: embedding reused.
    pub duplicates: usize,
    /// Images that went through the vision encoder.
    pub embedded: usize,
    pub skipped: Vec<Skipped>,
    /// Folders or files the scan could not read.
    pub scan_problems: Vec<Skipped>,
    pub seconds: f64,
    /// Embedded images per second of the embedding phase.
    pub images_per_second: f64,
    /// Whether the FAISS file was (re)written.
    pub vectors_written: bool,
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A fast content hash (xxh3-128): detects edits and recognises renames and duplicates.
pub fn content_hash(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes)))
}

/// Refuses an index built with another model, unless rebuilding or allowed to start again.
fn check_model(catalog: &mut Catalog, clip: &Clip, identity: &str, options: &IndexOptions) -> Result<()> {
    let stored = catalog.meta("model_identity")?;
    let same = stored.as_deref() == Some(identity);
    let rebuild = options.rebuild;
    if stored.is_some() && !same && !rebuild {
        let name = catalog.meta("model_name")?.unwrap_or_default();
        if !options.rebuild_on_model_change {
            return Err(EngineError::ModelMismatch(format!(
                "this index was built with the model `{name}`, not `{}` (different files). Use that model \
                 (--model), or re-embed everything with --rebuild",
                clip.spec().name
            )));
        }
        tracing::warn!("the index was built with `{name}`: re-embedding everything with `{}`", clip.spec().name);
    }
    if rebuild || !same {
        catalog.write(|w| {
            w.delete_all()?;
            w.bump_generation()?;
            w.set_meta("model_identity", identity)?;
            w.set_meta("model_name", &clip.spec().name)?;
            w.set_meta("dim", &clip.dim().to_string())
        })?;
    }
    Ok(())
}

/// What has to happen to each file found by the scan.
#[derive(Default)]
struct Plan {
    unchanged: usize,
    touched: Vec<(i64, FoundFile)>,
    renamed: Vec<(i64, FoundFile)>,
    duplicates: Vec<(FoundFile, String)>,
    /// (file, hash, is_new)
    embed: Vec<(FoundFile, String, bool)>,
    removed: Vec<i64>,
    known_skipped: Vec<Skipped>,
    hash_failures: Vec<Skipped>,
}

fn plan(catalog: &Catalog, data: &Path, found: Vec<FoundFile>) -> Result<Plan> {
    let mut plan = Plan::default();
    let rows = catalog.images()?;
    let skipped = catalog.skipped()?;
    let mut by_path: HashMap<&str, &ImageRow> = rows.iter().map(|r| (r.path.as_str(), r)).collect();
    let present_hashes: HashSet<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    let mut new_files = Vec::new();
    for file in found {
        let row = by_path.remove(file.rel.as_str());
        if row.is_some_and(|r| r.size == file.size && r.mtime_ns == file.mtime_ns) {
            plan.unchanged += 1;
            continue;
        }
        if row.is_none() {
            if let Some(s) = skipped.get(&file.rel).filter(|s| s.size == file.size && s.mtime_ns == file.mtime_ns) {
                plan.known_skipped.push(Skipped { path: file.rel.clone(), reason: s.reason.clone() });
                continue;
            }
        }
        let hash = match content_hash(&data.join(&file.rel)) {
            Ok(h) => h,
            Err(e) => {
                plan.hash_failures.push(Skipped { path: file.rel.clone(), reason: e.to_string() });
                continue;
            }
        };
        match row {
            Some(row) if row.hash == hash => {
                plan.unchanged += 1;
                plan.touched.push((row.id, file));
            }
            Some(_) => plan.embed.push((file, hash, false)),
            None => new_files.push((file, hash)),
        }
    }
    // Rows whose path is gone: either moved (same content appears under a new path) or removed.
    let mut gone: HashMap<&str, Vec<&ImageRow>> = HashMap::new();
    for row in by_path.into_values() {
        gone.entry(row.hash.as_str()).or_default().push(row);
    }
    let mut embedding_now: HashSet<String> = HashSet::new();
    for (file, hash) in new_files {
        if let Some(row) = gone.get_mut(hash.as_str()).and_then(Vec::pop) {
            plan.renamed.push((row.id, file));
        } else if present_hashes.contains(hash.as_str()) || embedding_now.contains(&hash) {
            plan.duplicates.push((file, hash));
        } else {
            embedding_now.insert(hash.clone());
            plan.embed.push((file, hash, true));
        }
    }
    plan.removed = gone.into_values().flatten().map(|r| r.id).collect();
    Ok(plan)
}

/// Indexes `options.data` with `clip` into `options.index_dir`.
pub fn run(clip: &Clip, options: &IndexOptions) -> Result<Summary> {
    let started = Instant::now();
    let data = options.data.canonicalize().map_err(|source| EngineError::Io { path: options.data.clone(), source })?;
    let index_dir = &options.index_dir;
    std::fs::create_dir_all(index_dir).map_err(|source| EngineError::Io { path: index_dir.clone(), source })?;
    let mut catalog = Catalog::open(index_dir)?;
    let identity = clip.spec().identity(clip.dir())?;
    check_model(&mut catalog, clip, &identity, options)?;

    let factory = match (&options.factory, catalog.meta("factory")?) {
        (Some(f), _) => f.clone(),
        (None, Some(stored)) => stored,
        (None, None) => DEFAULT_FACTORY.to_string(),
    };
    super::vectors::normalise_factory(&factory)?;
    let factory_changed = catalog.meta("factory")?.as_deref() != Some(factory.as_str());
    if let Some(old) = catalog.meta("data_root")?.filter(|old| Path::new(old) != data) {
        tracing::warn!("the index was built for {old}; now indexing {} (paths are relative, so it carries over)", data.display());
    }
    catalog.set_meta("data_root", &data.to_string_lossy())?;
    if let Ok(model_dir) = clip.dir().canonicalize() {
        catalog.set_meta("model_dir", &model_dir.to_string_lossy())?;
    }
    catalog.set_meta("factory", &factory)?;

    let scan = scan::scan(&data, &ScanOptions { exclude: options.exclude.clone(), skip_dir: Some(index_dir.clone()) })?;
    let mut summary = Summary {
        scan_problems: scan.problems.iter().map(|(p, r)| Skipped { path: p.clone(), reason: r.clone() }).collect(),
        ..Summary::default()
    };
    let plan = plan(&catalog, &data, scan.files)?;
    summary.unchanged = plan.unchanged;
    summary.renamed = plan.renamed.len();
    summary.removed = plan.removed.len();
    summary.skipped.extend(plan.known_skipped.iter().cloned());
    summary.skipped.extend(plan.hash_failures.iter().cloned());

    // Metadata-only changes first, in one transaction.
    let now = now_secs();
    let (ready_dups, later_dups): (Vec<_>, Vec<_>) = {
        let embedding_hashes: HashSet<&str> = plan.embed.iter().map(|(_, h, _)| h.as_str()).collect();
        plan.duplicates.iter().partition(|(_, h)| !embedding_hashes.contains(h.as_str()))
    };
    catalog.write(|w| {
        for (id, f) in &plan.touched {
            w.touch(*id, f.size, f.mtime_ns)?;
        }
        for (id, f) in &plan.renamed {
            w.move_image(*id, &f.rel, f.size, f.mtime_ns)?;
        }
        for id in &plan.removed {
            w.delete(*id)?;
        }
        add_duplicates(w, &ready_dups, now)?;
        if !plan.renamed.is_empty() || !plan.removed.is_empty() || !ready_dups.is_empty() {
            w.bump_generation()?;
        }
        Ok(())
    })?;

    // Then the encoder, committing every `checkpoint` images.
    let paths: Vec<PathBuf> = plan.embed.iter().map(|(f, _, _)| data.join(&f.rel)).collect();
    options.progress.set_length(paths.len() as u64);
    let embed_started = Instant::now();
    let mut pending: Vec<(usize, Result<Embedded>)> = Vec::new();
    let commit = |catalog: &mut Catalog, pending: &mut Vec<(usize, Result<Embedded>)>, summary: &mut Summary| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let now = now_secs();
        catalog.write(|w| {
            for (i, outcome) in pending.iter() {
                let (file, hash, _) = &plan.embed[*i];
                match outcome {
                    Ok(e) => {
                        w.upsert(
                            &NewImage {
                                path: &file.rel,
                                size: file.size,
                                mtime_ns: file.mtime_ns,
                                hash,
                                width: e.width,
                                height: e.height,
                                embedding: &e.embedding,
                            },
                            now,
                        )?;
                        w.unskip(&file.rel)?;
                    }
                    Err(err) => w.skip(&file.rel, file.size, file.mtime_ns, &skip_reason(err))?,
                }
            }
            w.bump_generation()
        })?;
        for (i, outcome) in pending.drain(..) {
            let (file, _, is_new) = &plan.embed[i];
            match outcome {
                Ok(_) if *is_new => summary.new += 1,
                Ok(_) => summary.changed += 1,
                Err(e) => summary.skipped.push(Skipped { path: file.rel.clone(), reason: skip_reason(&e) }),
            }
        }
        Ok(())
    };
    let hashes: Vec<&str> = plan.embed.iter().map(|(_, h, _)| h.as_str()).collect();
    let on_decoded = |i: usize, image: &image::DynamicImage| {
        if options.thumbnails {
            if let Err(e) = thumbs::ensure(index_dir, hashes[i], image) {
                tracing::warn!("thumbnail for {}: {e}", plan.embed[i].0.rel);
            }
        }
    };
    let mut failure = None;
    let pipeline_result = pipeline::embed_files_with(
        clip,
        &paths,
        PipelineOptions { batch: options.batch.max(1), decoders: 0 },
        &on_decoded,
        |i, outcome| {
            if outcome.is_ok() {
                summary.embedded += 1;
            }
            options.progress.inc(1);
            pending.push((i, outcome));
            if pending.len() >= options.checkpoint.max(1) && failure.is_none() {
                if let Err(e) = commit(&mut catalog, &mut pending, &mut summary) {
                    failure = Some(e);
                }
            }
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    pipeline_result?;
    commit(&mut catalog, &mut pending, &mut summary)?;
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    options.progress.finish_and_clear();

    if !later_dups.is_empty() {
        catalog.write(|w| {
            add_duplicates(w, &later_dups, now)?;
            w.bump_generation()
        })?;
    }
    summary.duplicates = plan.duplicates.len();

    summary.vectors_written = write_vectors(&catalog, index_dir, clip.dim(), &factory, factory_changed)?;
    if options.thumbnails && (summary.removed > 0 || summary.changed > 0) {
        let keep: HashSet<String> = catalog.images()?.into_iter().map(|r| r.hash).collect();
        thumbs::prune(index_dir, &keep);
    }
    summary.total = catalog.count()?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.images_per_second = if summary.embedded > 0 { summary.embedded as f64 / embed_seconds } else { 0.0 };
    Ok(summary)
}

fn skip_reason(e: &EngineError) -> String {
    match e {
        EngineError::Image { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Stores duplicates with the embedding of the already indexed file with the same content.
fn add_duplicates(w: &super::catalog::Writer<'_>, dups: &[&(FoundFile, String)], now: i64) -> Result<()> {
    for (file, hash) in dups {
        let Some(embedding) = w.embedding_of_hash(hash)? else { continue };
        let (width, height) = w.dimensions_of_hash(hash)?.unwrap_or((0, 0));
        w.upsert(
            &NewImage { path: &file.rel, size: file.size, mtime_ns: file.mtime_ns, hash, width, height, embedding: &embedding },
            now,
        )?;
    }
    Ok(())
}

/// Whether the FAISS file holds the catalog's current vectors.
fn vectors_file_current(catalog: &Catalog, index_dir: &Path) -> Result<bool> {
    let written_for = catalog.meta("vectors_generation")?.and_then(|g| g.parse::<u64>().ok());
    Ok(written_for == Some(catalog.generation()?) && index_dir.join(VECTORS_FILE).is_file())
}

/// Writes the FAISS file when the catalog changed since it was written (or it is missing).
fn write_vectors(catalog: &Catalog, index_dir: &Path, dim: usize, factory: &str, factory_changed: bool) -> Result<bool> {
    if vectors_file_current(catalog, index_dir)? && !factory_changed {
        return Ok(false);
    }
    save_vectors(catalog, index_dir, dim, factory)?;
    Ok(true)
}

/// Builds the FAISS index from the catalog and saves it, recording the generation it holds.
pub fn save_vectors(catalog: &Catalog, index_dir: &Path, dim: usize, factory: &str) -> Result<()> {
    let generation = catalog.generation()?;
    let (ids, vectors) = catalog.vectors(dim)?;
    VectorIndex::build(dim, factory, &ids, &vectors)?.save(&index_dir.join(VECTORS_FILE))?;
    catalog.set_meta("vectors_generation", &generation.to_string())
}

/// Loads the vectors for searching: the FAISS file when it matches the catalog, else rebuilt
/// from the catalog (after an interrupted run), without writing anything.
pub fn load_vectors(catalog: &Catalog, index_dir: &Path, dim: usize) -> Result<(VectorIndex, bool)> {
    if vectors_file_current(catalog, index_dir)? {
        if let Ok(index) = VectorIndex::load(&index_dir.join(VECTORS_FILE), dim) {
            if index.len() == catalog.count()? {
                return Ok((index, false));
            }
        }
    }
    tracing::warn!("the vector file does not match the catalog (interrupted indexing?): rebuilding it in memory");
    let factory = catalog.meta("factory")?.unwrap_or_else(|| DEFAULT_FACTORY.to_string());
    let (ids, vectors) = catalog.vectors(dim)?;
    Ok((VectorIndex::build(dim, &factory, &ids, &vectors)?, true))
}
