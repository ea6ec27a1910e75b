//! Searching an index: text, image and "more like this" queries, ranked by cosine similarity.
//!
//! ```no_run
//! use clipfind_engine::{clip::{Clip, ClipOptions}, search::searcher::Searcher};
//! # fn main() -> clipfind_engine::Result<()> {
//! let clip = Clip::load("models/vit-b32".as_ref(), ClipOptions::default())?;
//! let searcher = Searcher::open("photos/.clipfind".as_ref(), clip)?;
//! for hit in searcher.search("a dog sitting on a bench")? {
//!     println!("{} | similarity: {:.4}", hit.path, hit.score);
//! }
//! # Ok(()) }
//! ```

use std::{
    num::NonZeroUsize,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use std::collections::HashMap;

use lru::LruCache;

pub use super::hits::{Hit, HitWords, IndexStats, Matching, Moment, Motion, SearchParams, Sort};
use super::hits::{sort_rows, MOMENTS};
use super::{intent, stages, words::TextQuery};
use crate::{
    catalog::filter::Filter,
    catalog::identity,
    catalog::{Catalog, ImageRow, FRAME_IDS},
    clip::Clip,
    ingest::roots::Roots,
    ingest::thumbs,
    search::batcher::Batcher,
    search::duplicates::{self, Group, NearPairs},
    search::query::{self, Query, TermKind},
    search::text_batcher::{BatchSizes, TextBatcher, Ticket},
    store::{
        choice::{StoreChoice, STORE_KEY},
        indexed::IndexedVectors,
        LibraryVectors, VectorSearch,
    },
    EngineError, Result,
};

/// Text embeddings kept for repeated queries (live typing and popular searches repeat).
const QUERY_CACHE: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// Filters whose matching ids are kept (typing with a filter set repeats it every keystroke).
const FILTER_CACHE: NonZeroUsize = NonZeroUsize::new(32).unwrap();

/// Up to this many images a filter keeps, an approximate index compares them all exactly
/// (about 10 ms per 50,000 512-d vectors here) rather than over-fetching candidates.
const EXACT_AMONG_MAX: usize = 200_000;

/// An index opened for searching with its model: the vectors, and the catalog for the few
/// rows each search returns.
pub struct Searcher {
    clip: Arc<Clip>,
    /// Recently asked queries: typing revisits prefixes and the back button repeats searches.
    /// Shared with a reopened searcher: embeddings depend on the model only.
    query_cache: Arc<Mutex<LruCache<String, Vec<f32>>>>,
    pub(super) vectors: Arc<dyn LibraryVectors>,
    /// The vector store given when opening (else the one the catalog records).
    store: Option<StoreChoice>,
    /// Near-duplicate pairs, found on first use for this opened version of the index.
    near_pairs: std::sync::OnceLock<Arc<NearPairs>>,
    /// Held while the near pairs are searched: concurrent first callers wait for that one
    /// search instead of each running their own.
    pair_search: Mutex<()>,
    /// The ids each recently used filter keeps, for this opened version of the index.
    filtered: Mutex<LruCache<Filter, Arc<Vec<i64>>>>,
    batcher: Batcher,
    /// Concurrent text queries encoded together; shared with a reopened searcher.
    texts: Arc<TextBatcher>,
    catalog: Mutex<Catalog>,
    /// A second connection for evaluating filters: a slow filter (many conditions over a big
    /// catalog) then never holds the connection every search needs for its results' rows.
    filter_catalog: Mutex<Catalog>,
    index_dir: PathBuf,
    stats: IndexStats,
    /// Where the links the last scan followed lead: files there may be served too.
    links: Vec<PathBuf>,
    /// The index version this searcher was opened at (see [`Searcher::version`]).
    version: String,
}

impl Searcher {
    /// Opens the index in `index_dir` for searching with `clip`, which must be the model the
    /// index was built with. An index of an older format is upgraded in place first.
    pub fn open(index_dir: &Path, clip: Clip) -> Result<Searcher> {
        Self::open_in(index_dir, clip, None)
    }

    /// As [`Searcher::open`], searching the vectors in `store` instead of the store the index
    /// records (the same Milvus collection with credentials, or through another address).
    pub fn open_in(index_dir: &Path, clip: Clip, store: Option<StoreChoice>) -> Result<Searcher> {
        if Catalog::needs_upgrade(index_dir) {
            let _lock = crate::ingest::writer_lock::acquire(index_dir)?;
            Catalog::open(index_dir)?;
        }
        let clip = Arc::new(clip);
        let texts = Arc::new(TextBatcher::new(clip.clone()));
        Self::open_with(index_dir, clip, Arc::new(Mutex::new(LruCache::new(QUERY_CACHE))), texts, store)
    }

    /// Opens the index again as it is now, with the same model and query cache: what a server
    /// swaps in when another process changed the index. This searcher keeps answering meanwhile.
    pub fn reopen(&self) -> Result<Searcher> {
        Self::open_with(&self.index_dir, self.clip.clone(), self.query_cache.clone(), self.texts.clone(), self.store.clone())
    }

    /// Which committed state of the index a searcher would open now: it changes when images are
    /// added, changed, renamed or removed, when the approximate index is retrained or its log
    /// folded, when the vector file is compacted, and when the library moves to another store.
    pub fn version(index_dir: &Path) -> Result<String> {
        Self::version_of(&Catalog::open_read_only(index_dir)?)
    }

    fn version_of(catalog: &Catalog) -> Result<String> {
        catalog.read(|c| {
            let keys = ["generation", "ann_file", crate::catalog::vector_file::FILE_KEY, "model_identity", STORE_KEY];
            let values = keys.iter().map(|k| c.meta(k).map(Option::unwrap_or_default)).collect::<Result<Vec<_>>>()?;
            Ok(values.join("|"))
        })
    }

    /// The version this searcher was opened at.
    pub fn opened_version(&self) -> &str {
        &self.version
    }

    fn open_with(
        index_dir: &Path,
        clip: Arc<Clip>,
        query_cache: Arc<Mutex<LruCache<String, Vec<f32>>>>,
        texts: Arc<TextBatcher>,
        store: Option<StoreChoice>,
    ) -> Result<Searcher> {
        let catalog = Catalog::open_read_only(index_dir)?;
        // Read first: a change made while opening makes the next check open again.
        let version = Self::version_of(&catalog)?;
        identity::require_same(&catalog, &clip, index_dir)?;
        let vectors = open_vectors(&catalog, index_dir, &clip, store.as_ref())?;
        let stats = IndexStats {
            // Files, not vectors: a video has one vector per kept frame.
            images: catalog.count()?,
            model: clip.spec().name.clone(),
            factory: vectors.factory().to_string(),
            recall: vectors.recall(),
            data_root: catalog.meta("data_root")?.map(PathBuf::from).unwrap_or_default(),
            roots: Roots::recorded(&catalog)?,
            last_indexed: catalog.meta("last_indexed")?.and_then(|t| t.parse().ok()).unwrap_or(0),
            replayed_changes: vectors.replayed(),
            words: catalog.words_progress()?,
        };
        let links = crate::ingest::original::followed_links(&catalog)?;
        Ok(Searcher {
            clip,
            query_cache,
            version,
            batcher: Batcher::new(vectors.clone() as Arc<dyn VectorSearch>),
            filtered: Mutex::new(LruCache::new(FILTER_CACHE)),
            near_pairs: std::sync::OnceLock::new(),
            pair_search: Mutex::new(()),
            texts,
            vectors,
            store,
            catalog: Mutex::new(catalog),
            filter_catalog: Mutex::new(Catalog::open_read_only(index_dir)?),
            index_dir: index_dir.to_path_buf(),
            stats,
            links,
        })
    }

    /// Whether `index_dir` holds an index at all.
    pub fn exists(index_dir: &Path) -> bool {
        index_dir.join(crate::catalog::CATALOG_FILE).is_file()
    }

    /// The model queries are embedded with.
    pub fn clip(&self) -> &Clip {
        &self.clip
    }

    /// Facts about the loaded index.
    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }

    /// Text search with the default parameters (30 results, similarity at least 0.1).
    pub fn search(&self, query: &str) -> Result<Vec<Hit>> {
        self.search_text(query, SearchParams::default())
    }

    /// Images most like a text query (plain text, not the query grammar), ranked by cosine
    /// similarity, as `params` allows.
    pub fn search_text(&self, query: &str, params: SearchParams) -> Result<Vec<Hit>> {
        let v = self.text_embedding(query)?;
        self.search_vector(&v, params, None)
    }

    /// A query in the [`query`](crate::search::query) grammar (plain text, or text and indexed images
    /// added and subtracted with weights), narrowed by `filter`, matched as `params.matching` says:
    /// the pictures, the words read in them and their names fused into one list (see
    /// [`fusion`]), with a date a plain query names taken out as a filter for the pictures (see
    /// [`intent`]). Images the query names are left out of its results. A malformed query is
    /// [`EngineError::Query`].
    pub fn search_query(&self, text: &str, params: SearchParams, filter: &Filter, ticket: Option<Ticket>) -> Result<Vec<Hit>> {
        let query = Query::parse(text).map_err(EngineError::Query)?;
        let named: Vec<i64> = query.terms.iter().filter_map(|t| match t.what {
            TermKind::Image(id) => Some(id),
            TermKind::Text(_) => None,
        }).collect();
        let (v, pictures_filter) = match query.as_plain() {
            Some(plain) => {
                let dated = intent::dates_in(plain);
                let mut dated_filter = filter.clone();
                if let Some(period) = dated.period {
                    dated_filter.taken_in(period);
                }
                let encoded = if dated.text.is_empty() { plain } else { dated.text.as_str() };
                (stages::timed("encode", || self.text_embedding_unless_superseded(encoded, ticket.clone()))?, dated_filter)
            }
            None => (stages::timed("encode", || self.query_embedding(&query, ticket.clone()))?, filter.clone()),
        };
        let pictures = match params.matching {
            Matching::Words => Vec::new(),
            _ => self.find_rows(&v, params, &named, &pictures_filter, ticket)?,
        };
        let text_query = TextQuery::of(&query).filter(|_| params.matching != Matching::Pictures);
        let Some(text_query) = text_query else { return Ok(self.hits(pictures, params, "picture")) };
        self.fuse(&v, pictures, &text_query, params, &named, filter)
    }

    /// The weighted sum of the query's term embeddings, normalised (see [`query::combine`]).
    fn query_embedding(&self, query: &Query, ticket: Option<Ticket>) -> Result<Vec<f32>> {
        let vectors = (query.terms.iter())
            .map(|term| match &term.what {
                TermKind::Text(text) => self.text_embedding_unless_superseded(text, ticket.clone()),
                TermKind::Image(id) => self.vectors.vector(*id)?.ok_or_else(|| EngineError::NotFound(format!("there is no image #{id} in the index"))),
            })
            .collect::<Result<Vec<_>>>()?;
        query::combine(&query.terms, &vectors).map_err(EngineError::Usage)
    }

    /// The embedding of a query, from the cache when it was asked before.
    pub fn text_embedding(&self, query: &str) -> Result<Vec<f32>> {
        self.text_embedding_unless_superseded(query, None)
    }

    fn text_embedding_unless_superseded(&self, query: &str, ticket: Option<Ticket>) -> Result<Vec<f32>> {
        let cache = || self.query_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache().get(query) {
            return Ok(v.clone());
        }
        let v = self.texts.embed_unless_superseded(query, ticket)?;
        cache().put(query.to_string(), v.clone());
        Ok(v)
    }

    /// How concurrent queries were batched so far: into text-encoder calls, and into FAISS calls.
    pub fn batch_sizes(&self) -> (BatchSizes, BatchSizes) {
        (self.texts.batch_sizes(), self.batcher.batch_sizes())
    }

    /// Images most like an image file (which need not be in the index), narrowed by `filter`.
    pub fn search_image_file(&self, path: &Path, params: SearchParams, filter: &Filter) -> Result<Vec<Hit>> {
        let v = self.clip.embed_image_file(path)?;
        self.find(&v, params, &[], filter)
    }

    /// Images most like an encoded image (an upload), narrowed by `filter`; the error is a
    /// sentence for the user.
    pub fn search_image_bytes(&self, bytes: &[u8], params: SearchParams, filter: &Filter) -> Result<Vec<Hit>> {
        let prepared = self
            .clip
            .preprocess()
            .prepare_bytes(bytes)
            .map_err(|reason| EngineError::Image { path: PathBuf::from("upload"), reason })?;
        let v = self.clip.embed_prepared(std::slice::from_ref(&prepared))?.remove(0);
        self.find(&v, params, &[], filter)
    }

    /// Images most like the indexed image `id`, without the image itself, narrowed by `filter`.
    pub fn similar_to(&self, id: i64, params: SearchParams, filter: &Filter) -> Result<Vec<Hit>> {
        let v = self.vectors.vector(id)?.ok_or_else(|| EngineError::NotFound(format!("no image with id {id} in the index")))?;
        self.find(&v, params, &[id], filter)
    }

    /// Ranked hits for a normalised query vector.
    pub fn search_vector(&self, v: &[f32], params: SearchParams, exclude: Option<i64>) -> Result<Vec<Hit>> {
        self.find(v, params, exclude.as_slice(), &Filter::default())
    }

    /// Ranked hits for a normalised query vector among the images `filter` keeps, less
    /// `exclude`, in `params.sort` order.
    pub fn find(&self, v: &[f32], params: SearchParams, exclude: &[i64], filter: &Filter) -> Result<Vec<Hit>> {
        self.find_unless_superseded(v, params, exclude, filter, None)
    }

    /// As [`Searcher::find`], or [`EngineError::Superseded`] when `ticket` is overtaken before
    /// the vector search runs (live typing: the encoder may be quick, the search queue not).
    fn find_unless_superseded(&self, v: &[f32], params: SearchParams, exclude: &[i64], filter: &Filter, ticket: Option<Ticket>) -> Result<Vec<Hit>> {
        let mut rows = self.find_rows(v, params, exclude, filter, ticket)?;
        sort_rows(&mut rows, params.sort);
        Ok(self.with_words(rows.into_iter().map(|(row, score, moments)| self.hit(row, score, moments)).collect(), &Default::default()))
    }

    /// The best `params.k` files for `v`, best first, with their moments.
    fn find_rows(&self, v: &[f32], params: SearchParams, exclude: &[i64], filter: &Filter, ticket: Option<Ticket>) -> Result<Vec<(ImageRow, f32, Vec<Moment>)>> {
        if v.len() != self.clip.dim() {
            return Err(EngineError::Usage(format!("a {}-d query for a {}-d index", v.len(), self.clip.dim())));
        }
        if ticket.as_ref().is_some_and(Ticket::is_superseded) {
            return Err(EngineError::Superseded);
        }
        // A video's frames collapse into one hit: ask for more candidates while too few files
        // came out of them and more are there (a few more from the start, for its moments).
        let mut wanted = params.k + exclude.len() + MOMENTS;
        loop {
            let found = stages::timed("vectors", || self.candidates(v, wanted, filter, ticket.clone()))?;
            let exhausted = found.len() < wanted || wanted as u64 >= self.vectors.len();
            let mut rows = stages::timed("rows", || self.files_of(&found, params, exclude))?;
            if rows.len() >= params.k || exhausted {
                rows.truncate(params.k);
                return Ok(rows);
            }
            wanted *= 4;
        }
    }

    /// The files of ranked (vector id, score) pairs, best first, each once: a video at its best
    /// frame, its other frames' moments kept with it, and a Live Photo's clip folded into its
    /// still (the clip's matching frames are the still's moments, as a motion photo's clip's
    /// frames are). Files in `exclude` and scores
    /// under the cutoff are left out, and so is a file removed since this index was opened.
    fn files_of(&self, found: &[(i64, f32)], params: SearchParams, exclude: &[i64]) -> Result<Vec<(ImageRow, f32, Vec<Moment>)>> {
        let catalog = self.catalog();
        let mut rows: Vec<(ImageRow, f32, Vec<Moment>)> = Vec::new();
        // Each file's item (itself, or a clip's still) and the moment of its own row's vector.
        let mut item_of: HashMap<i64, (i64, Option<i64>)> = HashMap::new();
        let mut position: HashMap<i64, usize> = HashMap::new();
        for &(id, score) in found.iter().filter(|(_, score)| *score >= params.min_score) {
            let (file, ms) = match id >= FRAME_IDS {
                true => match catalog.frame(id)? {
                    Some(frame) => (frame.video, Some(frame.ms)),
                    None => continue,
                },
                false => (id, None),
            };
            if exclude.contains(&file) {
                continue;
            }
            if !item_of.contains_key(&file) {
                let Some(row) = catalog.image(file)? else { continue };
                let first_ms = row.video.map(|v| v.frame_ms);
                let still = if row.video.is_some() { catalog.live_twin(&row)?.filter(|still| !exclude.contains(&still.id)) } else { None };
                let item = still.as_ref().map_or(file, |still| still.id);
                item_of.insert(file, (item, first_ms));
                if !position.contains_key(&item) {
                    let mut row = still.unwrap_or(row);
                    if let (Some(video), Some(ms)) = (row.video.as_mut(), ms) {
                        video.frame_ms = ms; // the moment that matched
                    }
                    position.insert(item, rows.len());
                    // A video's best frame is its timestamp; a still's clip's is a moment.
                    let own_best = item == file && (ms.is_none() || row.video.is_some());
                    let moments = if own_best { Vec::new() } else { vec![Moment { timestamp: ms.or(first_ms).unwrap_or(0) as f64 / 1000.0, score }] };
                    rows.push((row, score, moments));
                    continue;
                }
            }
            let (item, first_ms) = item_of[&file];
            let (row, _, moments) = &mut rows[position[&item]];
            // A frame, or a video's own row (its first kept frame); a still matches once.
            if (file != item || row.video.is_some() || ms.is_some()) && moments.len() < MOMENTS {
                moments.push(Moment { timestamp: ms.or(first_ms).unwrap_or(0) as f64 / 1000.0, score });
            }
        }
        Ok(rows)
    }

    /// The best `wanted` (id, score) pairs among the images `filter` keeps: all of them
    /// compared exactly when they are few, else the vector index asked for more candidates
    /// until `wanted` pass (or every image was a candidate).
    fn candidates(&self, v: &[f32], wanted: usize, filter: &Filter, ticket: Option<Ticket>) -> Result<Vec<(i64, f32)>> {
        if filter.is_empty() {
            return self.batcher.search_unless_superseded(v.to_vec(), wanted, ticket);
        }
        let ids_of = |part: &Filter| self.allowed(part);
        if let Some(found) = self.vectors.search_filtered(v, filter, &ids_of, wanted) {
            return found;
        }
        let allowed = self.allowed(filter)?;
        let total = self.vectors.len() as usize;
        let few = match self.vectors.is_approximate() {
            true => allowed.len() <= EXACT_AMONG_MAX,
            // An exact index compares every vector anyway: comparing a subset pays off below a quarter.
            false => allowed.len() * 4 <= total,
        };
        if allowed.is_empty() || few {
            return self.vectors.search_among(v, &allowed, wanted);
        }
        let mut fetch = (wanted * total).div_ceil(allowed.len()) * 2;
        loop {
            let fetch_now = fetch.min(total);
            let found = self.batcher.search(v.to_vec(), fetch_now)?;
            let kept: Vec<(i64, f32)> = found.into_iter().filter(|(id, _)| allowed.binary_search(id).is_ok()).collect();
            if kept.len() >= wanted || fetch_now >= total {
                return Ok(kept);
            }
            fetch *= 4;
        }
    }

    /// The ids `filter` keeps (sorted), from the cache while this version of the index is open.
    pub(super) fn allowed(&self, filter: &Filter) -> Result<Arc<Vec<i64>>> {
        let cache = || self.filtered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ids) = cache().get(filter) {
            return Ok(ids.clone());
        }
        let ids = Arc::new(self.filter_catalog.lock().unwrap_or_else(|p| p.into_inner()).ids_matching(filter)?);
        cache().put(filter.clone(), ids.clone());
        Ok(ids)
    }

    pub(super) fn hit(&self, row: ImageRow, score: f32, moments: Vec<Moment>) -> Hit {
        let motion = self.motion_of(&row);
        let (folder, path) = match self.stats.roots.split(&row.path) {
            Some((root, rel)) if self.stats.roots.is_several() => (Some(root.name.clone()), rel.to_string()),
            _ => (None, row.path),
        };
        let camera = match (row.meta.camera_make, row.meta.camera_model) {
            // Models often repeat the make ("Canon" + "Canon EOS R5").
            (Some(make), Some(model)) if model.to_lowercase().starts_with(&make.to_lowercase()) => Some(model),
            (Some(make), Some(model)) => Some(format!("{make} {model}")),
            (make, model) => make.or(model),
        };
        Hit {
            id: row.id,
            path,
            folder,
            score,
            width: row.width,
            height: row.height,
            taken: row.meta.taken.map(|t| t.iso()),
            taken_source: row.meta.taken.map(|t| t.source.as_str()),
            camera,
            location: row.meta.location,
            kind: if row.video.is_some() { "video" } else { "image" },
            timestamp: row.video.map(|v| v.frame_ms as f64 / 1000.0),
            duration: row.video.map(|v| v.duration_ms as f64 / 1000.0),
            moments,
            motion,
            matched: Vec::new(),
            words: None, // looked up for all the hits at once: Searcher::with_words
        }
    }

    /// A still's clip: inside its file (a motion photo), or its Live Photo twin (a failed
    /// lookup shows the still alone).
    fn motion_of(&self, row: &ImageRow) -> Option<Motion> {
        if row.video.is_some() {
            return None;
        }
        if let Some(ms) = row.motion_ms {
            return Some(Motion { id: row.id, duration: ms as f64 / 1000.0, embedded: true });
        }
        let clip = self.catalog().live_twin(row).map_err(|e| tracing::warn!("looking up the Live Photo clip of {}: {e}", row.path)).ok()??;
        Some(Motion { id: clip.id, duration: clip.video?.duration_ms as f64 / 1000.0, embedded: false })
    }

    /// Groups of exact copies, near copies (embeddings at least `threshold` alike, from
    /// [`duplicates::MIN_THRESHOLD`] up) and bursts, largest first. The neighbour search runs
    /// once per opened index; other thresholds regroup what it found.
    pub fn duplicates(&self, threshold: f32, burst_seconds: i64) -> Result<Vec<Group>> {
        if !(duplicates::MIN_THRESHOLD..=1.0).contains(&threshold) {
            return Err(EngineError::Usage(format!("the threshold must be from {} to 1, not {threshold}", duplicates::MIN_THRESHOLD)));
        }
        Ok(self.near_pairs()?.groups(threshold, burst_seconds))
    }

    /// The near pairs of this opened index, searched once: the first caller searches, callers
    /// meanwhile wait for its answer (a failed search is tried again by the next caller).
    fn near_pairs(&self) -> Result<Arc<NearPairs>> {
        if let Some(pairs) = self.near_pairs.get() {
            return Ok(pairs.clone());
        }
        let _searching = self.pair_search.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pairs) = self.near_pairs.get() {
            return Ok(pairs.clone());
        }
        let started = std::time::Instant::now();
        let rows = self.catalog().images()?;
        let images = rows.len();
        let found = Arc::new(NearPairs::find(rows, self.clip.dim(), |id| self.vectors.vector(id))?);
        tracing::info!("searched near-duplicate pairs among {images} images in {:.2} s", started.elapsed().as_secs_f64());
        Ok(self.near_pairs.get_or_init(|| found).clone())
    }

    pub(super) fn catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored embedding of the indexed image `id`.
    pub fn vector(&self, id: i64) -> Result<Option<Vec<f32>>> {
        self.vectors.vector(id)
    }

    /// The id of an indexed file, by its path as stored (`FOLDER/path` with several folders)
    /// or absolute.
    pub fn id_of(&self, path: &Path) -> Result<Option<i64>> {
        let Some(key) = self.stats.roots.stored_of(path) else { return Ok(None) };
        Ok(self.catalog().image_at(&key)?.map(|row| row.id))
    }

    /// The catalog row of an indexed image: path, content hash (changes exactly when the image
    /// does), dimensions.
    pub fn image(&self, id: i64) -> Result<Option<ImageRow>> {
        self.catalog().image(id)
    }

    /// The thumbnail of `id`, made now from its original in `roots` when indexing did not
    /// write one (thumbnails turned off, a failed write). Decoding stays within the process's
    /// decode budget however many are asked for at once.
    pub fn thumbnail(&self, id: i64, roots: &Roots) -> Result<std::fs::File> {
        Ok(self.thumbnail_at(id, None, roots)?.0)
    }

    /// As [`Searcher::thumbnail`]; for a video and a moment `ms`, the frame's thumbnail written
    /// when it was indexed (and the moment), else the video's own. The file comes open: served
    /// from it (see [`crate::support::index_folder::fd_path`]), never by its name again.
    pub fn thumbnail_at(&self, id: i64, ms: Option<i64>, roots: &Roots) -> Result<(std::fs::File, Option<i64>)> {
        let row = self.image(id)?.ok_or_else(|| EngineError::NotFound(format!("no image with id {id} in the index")))?;
        if let (Some(ms), true) = (ms, row.video.is_some() || row.motion_ms.is_some()) {
            if let Some(frame) = thumbs::open(&self.index_dir, &thumbs::frame_key(&row.hash, ms)) {
                return Ok((frame, Some(ms)));
            }
        }
        if let Some(thumbnail) = thumbs::open(&self.index_dir, &row.hash) {
            return Ok((thumbnail, None));
        }
        // Made only from the indexed content, never from whatever the name leads to now.
        let original = crate::ingest::original::open(&row, roots, &self.links)?;
        thumbs::make_from_file(&self.index_dir, &row.hash, &original.real_path)?;
        let made = thumbs::open(&self.index_dir, &row.hash)
            .ok_or_else(|| EngineError::NotFound(format!("the thumbnail of image #{id} cannot be opened")))?;
        Ok((made, None))
    }

    /// The MP4 clip inside motion photo `id` (see [`crate::media::motion_photo`]), read only from
    /// the checked original; NotFound when it has none.
    pub fn motion_clip(&self, id: i64, roots: &Roots) -> Result<(ImageRow, Vec<u8>)> {
        let (row, original) = self.original(id, roots)?;
        let not_found = || EngineError::NotFound(format!("image #{id} holds no motion photo clip"));
        if row.motion_ms.is_none() {
            return Err(not_found());
        }
        let bytes = original.read_to_end(crate::ingest::pipeline::MAX_FILE_BYTES)?;
        let clip = crate::media::motion_photo::clip_range(&bytes).ok_or_else(not_found)?;
        Ok((row, bytes[clip].to_vec()))
    }

    /// A JPEG rendition of image `id` (see [`thumbs::rendition`]), made only from the checked
    /// original.
    pub fn rendition(&self, id: i64, roots: &Roots) -> Result<(ImageRow, Vec<u8>)> {
        let (row, original) = self.original(id, roots)?;
        let jpeg = thumbs::rendition(&original.real_path)?;
        Ok((row, jpeg))
    }

    /// The file of image `id`, open and checked: still the indexed content, inside the
    /// library (see [`crate::ingest::original`]); NotFound otherwise.
    pub fn original(&self, id: i64, roots: &Roots) -> Result<(ImageRow, crate::ingest::original::Original)> {
        let row = self.image(id)?.ok_or_else(|| EngineError::NotFound(format!("no image with id {id} in the index")))?;
        let original = crate::ingest::original::open(&row, roots, &self.links)?;
        Ok((row, original))
    }
}

/// Orders the chosen results: by score as found, or by capture time (undated last, ties by score).
/// The vectors of the index, in the store `given` or the one the catalog records.
fn open_vectors(catalog: &Catalog, index_dir: &Path, clip: &Clip, given: Option<&StoreChoice>) -> Result<Arc<dyn LibraryVectors>> {
    let recorded = catalog.meta(STORE_KEY)?.map(|s| StoreChoice::from_recorded(&s, index_dir).map_err(EngineError::Usage)).transpose()?;
    match given.cloned().or(recorded).unwrap_or_default() {
        StoreChoice::Local => Ok(Arc::new(IndexedVectors::open(catalog, index_dir, clip.dim())?)),
        #[cfg(feature = "milvus")]
        StoreChoice::Milvus(url) => {
            let identity = identity::of(clip)?;
            Ok(Arc::new(crate::store::milvus::MilvusVectors::open(catalog, index_dir, url, clip.dim(), &identity, &clip.spec().name)?))
        }
        #[cfg(not(feature = "milvus"))]
        StoreChoice::Milvus(url) => Err(crate::store::choice::without_milvus(&url)),
    }
}

