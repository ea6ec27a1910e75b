//! A library's vectors opened for searching: the memory-mapped vector file, and over it either
//! an exact index built in memory (small libraries) or the approximate snapshot brought up to
//! date from the vector log, whose candidates are re-ranked by exact cosine from the vector file.
//! Opening reads (id, slot) pairs from a catalog index, not the rows, and never reads the vector
//! file whole when a snapshot exists.

use std::path::Path;

use crate::catalog::vector_file::MappedVectors;
use super::{
    faiss_store::FaissStore,
    policy::EXACT,
    snapshot::{self, candidates_for, rerank, Committed},
    vectors::VectorSearch,
};
use crate::{
    catalog::{filter::Filter, Catalog},
    Result,
};

/// What a searcher needs of a library's vectors, whichever store holds them.
pub trait LibraryVectors: VectorSearch {
    /// The index folder's vector file, which every store keeps (the catalog's vectors).
    fn stored(&self) -> &StoredVectors;

    /// The stored vector of `id` (an image's or a frame's).
    fn vector(&self, id: i64) -> Result<Option<Vec<f32>>> {
        self.stored().vector(id)
    }

    /// The `k` vectors among `ids` most similar to `query`, compared exactly.
    fn search_among(&self, query: &[f32], ids: &[i64], k: usize) -> Result<Vec<(i64, f32)>> {
        self.stored().search_among(query, ids, k)
    }

    /// Whether searches are approximate.
    fn is_approximate(&self) -> bool;

    /// The index searched, in words (`Flat` = exact FAISS).
    fn factory(&self) -> &str;

    /// Changes replayed into an approximate snapshot when it was opened.
    fn replayed(&self) -> usize {
        0
    }

    /// Recall@10 against exact search, when known (1 for exact search).
    fn recall(&self) -> Option<f32>;

    /// A search narrowed by `filter` that the store runs itself (Milvus evaluates filters next
    /// to the vectors); `ids_of` gives the catalog's vector ids for a filter part the store
    /// cannot evaluate. None: the searcher narrows by the catalog's ids instead.
    fn search_filtered(
        &self,
        _query: &[f32],
        _filter: &Filter,
        _ids_of: &dyn Fn(&Filter) -> Result<std::sync::Arc<Vec<i64>>>,
        _k: usize,
    ) -> Option<Result<Vec<(i64, f32)>>> {
        None
    }
}

/// The stored vectors of an index by id: the memory-mapped vector file and its (id, slot) pairs.
pub struct StoredVectors {
    mapped: MappedVectors,
    /// (id, slot), sorted by id.
    pairs: Vec<(i64, u64)>,
}

impl StoredVectors {
    /// The committed vectors of the index in `index_dir`, mapped, not read.
    pub fn open(committed: &Committed, index_dir: &Path, dim: usize) -> Result<StoredVectors> {
        let mapped = committed.map(index_dir, dim)?;
        mapped.release();
        let mut pairs = committed.pairs.clone();
        pairs.sort_unstable();
        Ok(StoredVectors { mapped, pairs })
    }

    /// How many vectors there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Floats per vector.
    pub fn dim(&self) -> usize {
        self.mapped.dim()
    }

    /// The stored vector of `id`.
    pub fn vector(&self, id: i64) -> Result<Option<Vec<f32>>> {
        match self.pairs.binary_search_by_key(&id, |p| p.0) {
            Ok(i) => self.mapped.read(self.pairs[i].1, id).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The `k` vectors among `ids` most similar to `query`, exactly (an id without a vector is
    /// passed over).
    pub fn search_among(&self, query: &[f32], ids: &[i64], k: usize) -> Result<Vec<(i64, f32)>> {
        let mut scored = Vec::with_capacity(ids.len());
        for &id in ids {
            let Ok(i) = self.pairs.binary_search_by_key(&id, |p| p.0) else { continue };
            let v = self.mapped.vector(self.pairs[i].1, id)?;
            scored.push((id, dot(v, query)));
        }
        let by_score = |a: &(i64, f32), b: &(i64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > k {
            scored.select_nth_unstable_by(k, by_score);
            scored.truncate(k);
        }
        scored.sort_unstable_by(by_score);
        Ok(scored)
    }
}

/// The vectors of an index, ready to search.
pub struct IndexedVectors {
    index: FaissStore,
    /// Whether `index` is approximate (its candidates are re-ranked).
    approximate: bool,
    stored: StoredVectors,
    factory: String,
    replayed: usize,
    recall: Option<f32>,
    /// Candidates re-ranked for ten results.
    depth: u32,
}

impl IndexedVectors {
    /// Opens the vectors of the index in `index_dir` as its catalog has committed them.
    pub fn open(catalog: &Catalog, index_dir: &Path, dim: usize) -> Result<IndexedVectors> {
        let committed = Committed::read(catalog)?;
        let stored = StoredVectors::open(&committed, index_dir, dim)?;
        if let Some(s) = &committed.snapshot {
            match snapshot::load(s, index_dir, dim).and_then(|mut index| {
                snapshot::replay(&mut index, &committed.pending, &stored.pairs, &stored.mapped)?;
                Ok(index)
            }) {
                Ok(index) => {
                    stored.mapped.release();
                    let (factory, recall, replayed, depth) = (s.factory.clone(), s.recall, committed.pending.len(), s.depth);
                    return Ok(IndexedVectors { index, approximate: true, stored, factory, replayed, recall, depth });
                }
                Err(e) => tracing::warn!("the index snapshot {} cannot be used ({e}); searching exactly", s.file),
            }
        }
        let index = snapshot::exact(&stored.pairs, &stored.mapped)?;
        stored.mapped.release();
        Ok(IndexedVectors { index, approximate: false, stored, factory: EXACT.to_string(), replayed: 0, recall: Some(1.0), depth: 0 })
    }
}

impl LibraryVectors for IndexedVectors {
    fn stored(&self) -> &StoredVectors {
        &self.stored
    }

    fn is_approximate(&self) -> bool {
        self.approximate
    }

    fn factory(&self) -> &str {
        &self.factory
    }

    fn replayed(&self) -> usize {
        self.replayed
    }

    fn recall(&self) -> Option<f32> {
        self.recall
    }
}

/// Inner product in eight lanes, which the compiler turns into SIMD (a plain float sum must
/// keep its order and stays scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

impl VectorSearch for IndexedVectors {
    fn dim(&self) -> usize {
        self.stored.dim()
    }

    fn len(&self) -> u64 {
        self.stored.len() as u64
    }

    fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(i64, f32)>>> {
        if !self.approximate {
            return self.index.search(queries, k);
        }
        let found = self.index.search(queries, candidates_for(k, self.depth))?;
        let dim = self.dim();
        let vector_of = |id: i64| match self.stored.vector(id) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        };
        Ok(found.iter().enumerate().map(|(q, candidates)| rerank(&queries[q * dim..][..dim], candidates, k, vector_of)).collect())
    }
}
