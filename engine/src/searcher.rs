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
    collections::HashMap,
    num::NonZeroUsize,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use lru::LruCache;
use serde::Serialize;

use super::{
    batcher::Batcher,
    catalog::Catalog,
    clip::Clip,
    identity,
    store::vector_file::{self, VECTORS_FILE},
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
    /// Relative to the data folder, `/`-separated.
    pub path: String,
    /// Cosine similarity to the query (higher is more alike).
    pub score: f32,
    /// Width in pixels of the upright image.
    pub width: u32,
    /// Height in pixels of the upright image.
    pub height: u32,
}

#[derive(Debug, Clone)]
struct ImageInfo {
    path: String,
    hash: String,
    width: u32,
    height: u32,
}

/// About a loaded index, for status lines and logs.
#[derive(Debug, Clone, Serialize)]
pub struct IndexStats {
    /// Number of images in the index.
    pub images: u64,
    /// Name of the model the index was built with.
    pub model: String,
    /// FAISS index factory string of the vector index (e.g. `Flat`).
    pub factory: String,
    /// The folder that was indexed, as recorded by the last indexing (empty when unknown).
    pub data_root: PathBuf,
    /// Unix seconds of the most recent indexing that embedded something.
    pub last_indexed: i64,
    /// True when the vector file was stale and the vectors were rebuilt from the catalog.
    pub rebuilt_from_catalog: bool,
}

/// Text embeddings kept for repeated queries (live typing and popular searches repeat).
const QUERY_CACHE: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// An index opened for searching with its model: the vectors and the catalog's list of images.
pub struct Searcher {
    clip: Clip,
    /// Recently asked queries: typing revisits prefixes and the back button repeats searches.
    query_cache: Mutex<LruCache<String, Vec<f32>>>,
    vectors: Batcher,
    catalog: Mutex<Catalog>,
    images: HashMap<i64, ImageInfo>,
    by_path: HashMap<String, i64>,
    index_dir: PathBuf,
    stats: IndexStats,
}

impl Searcher {
    /// Opens the index in `index_dir` for searching with `clip`, which must be the model the
    /// index was built with.
    pub fn open(index_dir: &Path, clip: Clip) -> Result<Searcher> {
        let catalog = Catalog::open_read_only(index_dir)?;
        identity::require_same(&catalog, &clip, index_dir)?;
        let (vectors, rebuilt) = vector_file::load(&catalog, index_dir, clip.dim())?;
        let rows = catalog.images()?;
        let last_indexed = rows.iter().map(|r| r.indexed_at).max().unwrap_or(0);
        let by_path = rows.iter().map(|r| (r.path.clone(), r.id)).collect();
        let images = rows
            .into_iter()
            .map(|r| (r.id, ImageInfo { path: r.path, hash: r.hash, width: r.width, height: r.height }))
            .collect::<HashMap<_, _>>();
        let stats = IndexStats {
            images: images.len() as u64,
            model: clip.spec().name.clone(),
            factory: catalog.meta("factory")?.unwrap_or_default(),
            data_root: catalog.meta("data_root")?.map(PathBuf::from).unwrap_or_default(),
            last_indexed,
            rebuilt_from_catalog: rebuilt,
        };
        Ok(Searcher { clip, query_cache: Mutex::new(LruCache::new(QUERY_CACHE)), vectors: Batcher::new(Arc::new(vectors)), catalog: Mutex::new(catalog), images, by_path, index_dir: index_dir.to_path_buf(), stats })
    }

    /// Whether `index_dir` holds an index at all.
    pub fn exists(index_dir: &Path) -> bool {
        index_dir.join(super::catalog::CATALOG_FILE).is_file() && index_dir.join(VECTORS_FILE).is_file()
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
        let v = self.text_embedding(query)?;
        self.search_vector(&v, params, None)
    }

    /// The embedding of a query, from the cache when it was asked before.
    pub fn text_embedding(&self, query: &str) -> Result<Vec<f32>> {
        let cache = || self.query_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache().get(query) {
            return Ok(v.clone());
        }
        let v = self.clip.embed_text(query)?;
        cache().put(query.to_string(), v.clone());
        Ok(v)
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
        let v = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .embedding(id)?
            .ok_or_else(|| EngineError::NotFound(format!("no image with id {id} in the index")))?;
        self.search_vector(&v, params, Some(id))
    }

    /// Ranked hits for a normalised query vector.
    pub fn search_vector(&self, v: &[f32], params: SearchParams, exclude: Option<i64>) -> Result<Vec<Hit>> {
        let wanted = params.k + usize::from(exclude.is_some());
        if v.len() != self.clip.dim() {
            return Err(EngineError::Usage(format!("a {}-d query for a {}-d index", v.len(), self.clip.dim())));
        }
        let found = self.vectors.search(v.to_vec(), wanted)?;
        Ok(found
            .into_iter()
            .filter(|(id, score)| Some(*id) != exclude && *score >= params.min_score)
            .filter_map(|(id, score)| {
                let info = self.images.get(&id)?;
                Some(Hit { id, path: info.path.clone(), score, width: info.width, height: info.height })
            })
            .take(params.k)
            .collect())
    }

    /// The id of an indexed file, by path relative to the data folder or absolute.
    pub fn id_of(&self, path: &Path) -> Option<i64> {
        let rel = path.strip_prefix(&self.stats.data_root).unwrap_or(path);
        let key = rel.to_str()?.replace(std::path::MAIN_SEPARATOR, "/");
        self.by_path.get(key.trim_start_matches("./")).copied()
    }

    /// Relative path, width and height of an indexed image.
    pub fn image(&self, id: i64) -> Option<(&str, u32, u32)> {
        self.images.get(&id).map(|i| (i.path.as_str(), i.width, i.height))
    }

    /// The content hash of `id`: changes exactly when the image does.
    pub fn image_hash(&self, id: i64) -> Option<&str> {
        self.images.get(&id).map(|i| i.hash.as_str())
    }

    /// Where the original file of `id` is, under `data_root`.
    pub fn image_file(&self, id: i64, data_root: &Path) -> Option<PathBuf> {
        self.images.get(&id).map(|i| data_root.join(&i.path))
    }

    /// The thumbnail of `id`, made now from its original under `data_root` when indexing did
    /// not write one (thumbnails turned off, a failed write). Decoding stays within the
    /// process's decode budget however many are asked for at once.
    pub fn thumbnail(&self, id: i64, data_root: &Path) -> Result<PathBuf> {
        let info = self.images.get(&id).ok_or_else(|| EngineError::NotFound(format!("no image with id {id} in the index")))?;
        let thumbnail = thumbs::path(&self.index_dir, &info.hash);
        if !thumbnail.is_file() {
            thumbs::make_from_file(&self.index_dir, &info.hash, &data_root.join(&info.path))?;
        }
        Ok(thumbnail)
    }
}
