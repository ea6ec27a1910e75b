//! Searching an index: text, image and "more like this" queries, ranked by cosine similarity.
//!
//! ```no_run
//! use clipfind_engine::{clip::{Clip, ClipOptions}, searcher::Searcher};
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

use lru::LruCache;
use serde::Serialize;

use super::{
    batcher::Batcher,
    catalog::{Catalog, ImageRow},
    clip::Clip,
    identity,
    roots::Roots,
    store::{indexed::IndexedVectors, VectorSearch},
    text_batcher::{BatchSizes, TextBatcher, Ticket},
    thumbs,
    EngineError, Result,
};

/// How many results and how similar they must be.
#[derive(Debug, Clone, Copy)]
pub struct SearchParams {
    /// Most results to return.
    pub k: usize,
    /// Cosine similarity below which a result is dropped.
    pub min_score: f32,
}

impl Default for SearchParams {
    /// The seed's defaults: 30 results, similarity at least 0.1.
    fn default() -> Self {
        SearchParams { k: 30, min_score: 0.1 }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// Catalog id of the image.
    pub id: i64,
    /// Relative to its data folder, `/`-separated.
    pub path: String,
    /// The data folder's name, when the library has several (see [`Roots`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Cosine similarity to the query (higher is more alike).
    pub score: f32,
    /// Width in pixels of the upright image.
    pub width: u32,
    /// Height in pixels of the upright image.
    pub height: u32,
}

/// About a loaded index, for status lines and logs.
#[derive(Debug, Clone, Serialize)]
pub struct IndexStats {
    /// Number of images in the index.
    pub images: u64,
    /// Name of the model the index was built with.
    pub model: String,
    /// FAISS index factory string of the vector index searched (`Flat` = exact).
    pub factory: String,
    /// Recall@10 of the vector index against exact search (1 for exact; measured when an
    /// approximate index was trained).
    pub recall: Option<f32>,
    /// The (first) folder that was indexed, as recorded by the last indexing (empty when unknown).
    pub data_root: PathBuf,
    /// Every folder that was indexed, as recorded by the last indexing.
    pub roots: Roots,
    /// Unix seconds of the most recent indexing that embedded something.
    pub last_indexed: i64,
    /// Changes logged after the approximate index snapshot, replayed into it at load.
    pub replayed_changes: usize,
}

/// Text embeddings kept for repeated queries (live typing and popular searches repeat).
const QUERY_CACHE: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// An index opened for searching with its model: the vectors, and the catalog for the few
/// rows each search returns.
pub struct Searcher {
    clip: Arc<Clip>,
    /// Recently asked queries: typing revisits prefixes and the back button repeats searches.
    /// Shared with a reopened searcher: embeddings depend on the model only.
    query_cache: Arc<Mutex<LruCache<String, Vec<f32>>>>,
    vectors: Arc<IndexedVectors>,
    batcher: Batcher,
    /// Concurrent text queries encoded together; shared with a reopened searcher.
    texts: Arc<TextBatcher>,
    catalog: Mutex<Catalog>,
    index_dir: PathBuf,
    stats: IndexStats,
    /// The index version this searcher was opened at (see [`Searcher::version`]).
    version: String,
}

impl Searcher {
    /// Opens the index in `index_dir` for searching with `clip`, which must be the model the
    /// index was built with. An index of an older format is upgraded in place first.
    pub fn open(index_dir: &Path, clip: Clip) -> Result<Searcher> {
        if Catalog::needs_upgrade(index_dir) {
            let _lock = crate::writer_lock::acquire(index_dir)?;
            Catalog::open(index_dir)?;
        }
        let clip = Arc::new(clip);
        let texts = Arc::new(TextBatcher::new(clip.clone()));
        Self::open_with(index_dir, clip, Arc::new(Mutex::new(LruCache::new(QUERY_CACHE))), texts)
    }

    /// Opens the index again as it is now, with the same model and query cache: what a server
    /// swaps in when another process changed the index. This searcher keeps answering meanwhile.
    pub fn reopen(&self) -> Result<Searcher> {
        Self::open_with(&self.index_dir, self.clip.clone(), self.query_cache.clone(), self.texts.clone())
    }

    /// Which committed state of the index a searcher would open now: it changes when images are
    /// added, changed, renamed or removed, when the approximate index is retrained or its log
    /// folded, and when the vector file is compacted.
    pub fn version(index_dir: &Path) -> Result<String> {
        Self::version_of(&Catalog::open_read_only(index_dir)?)
    }

    fn version_of(catalog: &Catalog) -> Result<String> {
        catalog.read(|c| {
            let keys = ["generation", "ann_file", crate::store::vector_file::FILE_KEY, "model_identity"];
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
    ) -> Result<Searcher> {
        let catalog = Catalog::open_read_only(index_dir)?;
        // Read first: a change made while opening makes the next check open again.
        let version = Self::version_of(&catalog)?;
        identity::require_same(&catalog, &clip, index_dir)?;
        let vectors = Arc::new(IndexedVectors::open(&catalog, index_dir, clip.dim())?);
        let stats = IndexStats {
            images: vectors.len(),
            model: clip.spec().name.clone(),
            factory: vectors.factory().to_string(),
            recall: vectors.recall(),
            data_root: catalog.meta("data_root")?.map(PathBuf::from).unwrap_or_default(),
            roots: Roots::recorded(&catalog)?,
            last_indexed: catalog.meta("last_indexed")?.and_then(|t| t.parse().ok()).unwrap_or(0),
            replayed_changes: vectors.replayed(),
        };
        Ok(Searcher {
            clip,
            query_cache,
            version,
            batcher: Batcher::new(vectors.clone()),
            texts,
            vectors,
            catalog: Mutex::new(catalog),
            index_dir: index_dir.to_path_buf(),
            stats,
        })
    }

    /// Whether `index_dir` holds an index at all.
    pub fn exists(index_dir: &Path) -> bool {
        index_dir.join(super::catalog::CATALOG_FILE).is_file()
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

    /// Images most like a text query, ranked by cosine similarity, as `params` allows.
    pub fn search_text(&self, query: &str, params: SearchParams) -> Result<Vec<Hit>> {
        self.search_text_unless_superseded(query, params, None)
    }

    /// As [`Searcher::search_text`], answered [`EngineError::Superseded`] instead when a newer
    /// query of the same client (see [`Ticket`]) arrives before this one is encoded.
    pub fn search_text_unless_superseded(&self, query: &str, params: SearchParams, ticket: Option<Ticket>) -> Result<Vec<Hit>> {
        let v = self.text_embedding_unless_superseded(query, ticket)?;
        self.search_vector(&v, params, None)
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

    /// How concurrent text queries were batched into encoder calls so far.
    pub fn text_batch_sizes(&self) -> BatchSizes {
        self.texts.batch_sizes()
    }

    /// Images most like an image file (which need not be in the index).
    pub fn search_image_file(&self, path: &Path, params: SearchParams) -> Result<Vec<Hit>> {
        let v = self.clip.embed_image_file(path)?;
        self.search_vector(&v, params, None)
    }

    /// Images most like an encoded image (an upload); the error is a sentence for the user.
    pub fn search_image_bytes(&self, bytes: &[u8], params: SearchParams) -> Result<Vec<Hit>> {
        let prepared = self
            .clip
            .preprocess()
            .prepare_bytes(bytes)
            .map_err(|reason| EngineError::Image { path: PathBuf::from("upload"), reason })?;
        let v = self.clip.embed_prepared(std::slice::from_ref(&prepared))?.remove(0);
        self.search_vector(&v, params, None)
    }

    /// Images most like the indexed image `id`, without the image itself.
    pub fn similar_to(&self, id: i64, params: SearchParams) -> Result<Vec<Hit>> {
        let v = self.vectors.vector(id)?.ok_or_else(|| EngineError::NotFound(format!("no image with id {id} in the index")))?;
        self.search_vector(&v, params, Some(id))
    }

    /// Ranked hits for a normalised query vector.
    pub fn search_vector(&self, v: &[f32], params: SearchParams, exclude: Option<i64>) -> Result<Vec<Hit>> {
        let wanted = params.k + usize::from(exclude.is_some());
        if v.len() != self.clip.dim() {
            return Err(EngineError::Usage(format!("a {}-d query for a {}-d index", v.len(), self.clip.dim())));
        }
        let found = self.batcher.search(v.to_vec(), wanted)?;
        let catalog = self.catalog();
        let mut hits = Vec::with_capacity(params.k);
        for (id, score) in found.into_iter().filter(|(id, score)| Some(*id) != exclude && *score >= params.min_score) {
            // An image removed since this index was opened is left out.
            if let Some(row) = catalog.image(id)? {
                let (folder, path) = match self.stats.roots.split(&row.path) {
                    Some((root, rel)) if self.stats.roots.is_several() => (Some(root.name.clone()), rel.to_string()),
                    _ => (None, row.path),
                };
                hits.push(Hit { id, path, folder, score, width: row.width, height: row.height });
            }
            if hits.len() == params.k {
                break;
            }
        }
        Ok(hits)
    }

    fn catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
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
    pub fn thumbnail(&self, id: i64, roots: &Roots) -> Result<PathBuf> {
        let row = self.image(id)?.ok_or_else(|| EngineError::NotFound(format!("no image with id {id} in the index")))?;
        let thumbnail = thumbs::path(&self.index_dir, &row.hash);
        if !thumbnail.is_file() {
            thumbs::make_from_file(&self.index_dir, &row.hash, &roots.file(&row.path))?;
        }
        Ok(thumbnail)
    }
}
