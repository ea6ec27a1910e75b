//! The embedded vector store, backed by FAISS (built from source and linked statically): inner
//! product over L2-normalised embeddings, i.e. cosine similarity.
//!
//! The vector file holds every embedding; a FAISS index is the search structure over them: exact
//! (`Flat` under an `IDMap`) built in memory, or an approximate one kept as a snapshot beside the
//! catalog and brought up to date from the vector log (see [`super::snapshot`]). IVF keeps ids
//! natively and removes them in place; anything else is wrapped in `IDMap`.

use std::{ffi::CStr, path::Path};

use faiss::{
    index::IndexImpl, index_factory, ConcurrentIndex, FlatIndex, IdMap, Idx, Index, MetricType,
};

use super::{VectorSearch, VectorStore};
use crate::{EngineError, Result};

/// Exact search: what a new index uses.
pub const DEFAULT_FACTORY: &str = "Flat";
/// IVF lists probed per query until a measured value is set, and HNSW's search breadth.
const NPROBE: u32 = 32;
const EF_SEARCH: u32 = 128;
/// At most this many vectors are used to train an IVF/PQ index.
const MAX_TRAINING: usize = 100_000;

/// The FAISS library version this binary links, as FAISS itself reports it.
pub fn faiss_version() -> String {
    // SAFETY: returns a pointer to a static, NUL-terminated string inside FAISS.
    unsafe { CStr::from_ptr(faiss_sys::faiss_get_version()) }.to_string_lossy().into_owned()
}

/// A factory string as FAISS gets it: ids attached the right way for the index type.
pub fn normalise_factory(factory: &str) -> Result<String> {
    let f = factory.trim();
    if f.is_empty() {
        return Err(EngineError::Usage("empty --factory".into()));
    }
    if f.starts_with("IDMap") {
        if f.contains("IVF") {
            return Err(EngineError::Usage(format!(
                "--factory {f}: IVF indexes keep ids natively; drop the IDMap prefix (IDMap over IVF returns wrong results after removals)"
            )));
        }
        return Ok(f.to_string());
    }
    Ok(if f.starts_with("IVF") { f.to_string() } else { format!("IDMap,{f}") })
}

/// A FAISS index over (id, vector) pairs.
pub struct FaissStore {
    index: IndexImpl,
    dim: usize,
}

// SAFETY: FAISS indexes may be searched from many threads at once as long as nobody modifies
// them; mutation takes `&mut self`, so the borrow checker keeps it apart from searches.
unsafe impl Sync for FaissStore {}
unsafe impl Send for FaissStore {}

impl FaissStore {
    /// Builds an index of `factory` type over `vectors` (`ids.len() * dim` floats).
    pub fn build(dim: usize, factory: &str, ids: &[i64], vectors: &[f32]) -> Result<FaissStore> {
        assert_eq!(ids.len() * dim, vectors.len(), "one vector per id");
        let description = normalise_factory(factory)?;
        let mut index = index_factory(dim as u32, &description, MetricType::InnerProduct)
            .map_err(|e| EngineError::Usage(format!("--factory {factory}: {e}")))?;
        if !index.is_trained() && !ids.is_empty() {
            let sample = training_sample(vectors, dim);
            index.train(&sample).map_err(|e| {
                EngineError::Usage(format!(
                    "--factory {factory} cannot be trained on {} images ({e}); use the default {DEFAULT_FACTORY} for small folders",
                    ids.len()
                ))
            })?;
        }
        if !ids.is_empty() {
            let labels: Vec<Idx> = ids.iter().map(|&id| Idx::new(id as u64)).collect();
            index.add_with_ids(vectors, &labels)?;
        }
        let built = FaissStore { index, dim };
        built.tune();
        Ok(built)
    }

    /// An empty index of `factory` type, trained on `sample` (vectors back to back) when its type
    /// needs training.
    pub fn trained(dim: usize, factory: &str, sample: &[f32]) -> Result<FaissStore> {
        let description = normalise_factory(factory)?;
        let mut index = index_factory(dim as u32, &description, MetricType::InnerProduct)
            .map_err(|e| EngineError::Usage(format!("--factory {factory}: {e}")))?;
        if !index.is_trained() {
            index.train(sample).map_err(|e| {
                EngineError::Usage(format!(
                    "--factory {factory} cannot be trained on {} images ({e}); use the default for small folders",
                    sample.len() / dim.max(1)
                ))
            })?;
        }
        let trained = FaissStore { index, dim };
        trained.tune();
        Ok(trained)
    }

    /// Sets how many IVF lists a search visits (ignored by other index types).
    pub fn set_nprobe(&self, nprobe: u32) {
        if let Ok(space) = faiss::index::autotune::ParameterSpace::new() {
            let _ = space.set_index_parameter(&self.index, "nprobe", nprobe);
        }
    }

    /// Exact inner-product index; what a fresh index uses.
    pub fn flat(dim: usize, ids: &[i64], vectors: &[f32]) -> Result<FaissStore> {
        Self::build(dim, DEFAULT_FACTORY, ids, vectors)
    }

    fn tune(&self) {
        // Only the parameters the index type has take effect; the others are refused, harmlessly.
        if let Ok(space) = faiss::index::autotune::ParameterSpace::new() {
            let _ = space.set_index_parameter(&self.index, "nprobe", NPROBE);
            let _ = space.set_index_parameter(&self.index, "efSearch", EF_SEARCH);
        }
    }

    /// The `k` best (id, similarity) pairs for one normalised query, best first.
    pub fn search_one(&self, query: &[f32], k: usize) -> Result<Vec<(i64, f32)>> {
        Ok(self.search(query, k)?.pop().unwrap_or_default())
    }

    /// Writes to `path` atomically: a temporary file renamed over the old one.
    pub fn save_to(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("faiss.tmp");
        let tmp_str = tmp.to_str().ok_or_else(|| EngineError::Usage(format!("{} is not UTF-8", tmp.display())))?;
        faiss::write_index(&self.index, tmp_str)?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|source| EngineError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, path).map_err(|source| EngineError::Io { path: path.to_path_buf(), source })
    }

    /// Reads an index written by [`FaissStore::save_to`], checking its dimension.
    pub fn load(path: &Path, dim: usize) -> Result<FaissStore> {
        let path_str = path.to_str().ok_or_else(|| EngineError::Usage(format!("{} is not UTF-8", path.display())))?;
        let index = faiss::read_index(path_str)?;
        if index.d() as usize != dim {
            return Err(EngineError::Faiss(format!("{} holds {}-d vectors, expected {dim}", path.display(), index.d())));
        }
        let loaded = FaissStore { index, dim };
        loaded.tune();
        Ok(loaded)
    }
}

impl VectorStore for FaissStore {
    fn add(&mut self, ids: &[i64], vectors: &[f32]) -> Result<()> {
        if ids.len() * self.dim != vectors.len() {
            return Err(EngineError::Usage(format!("{} ids for {} floats of {}-d vectors", ids.len(), vectors.len(), self.dim)));
        }
        if !self.index.is_trained() {
            return Err(EngineError::Usage("this index must be trained before vectors are added: rebuild it".into()));
        }
        let labels: Vec<Idx> = ids.iter().map(|&id| Idx::new(id as u64)).collect();
        self.index.add_with_ids(vectors, &labels)?;
        Ok(())
    }

    fn remove(&mut self, ids: &[i64]) -> Result<u64> {
        let labels: Vec<Idx> = ids.iter().map(|&id| Idx::new(id as u64)).collect();
        let selector = faiss::selector::IdSelector::batch(&labels)?;
        Ok(self.index.remove_ids(&selector)? as u64)
    }

    fn save(&self, index_dir: &Path) -> Result<()> {
        self.save_to(&index_dir.join("vectors.faiss"))
    }
}

impl VectorSearch for FaissStore {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> u64 {
        self.index.ntotal()
    }

    /// Several queries in one call read the vectors once (matrix product) instead of once per query.
    fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(i64, f32)>>> {
        if queries.is_empty() || queries.len() % self.dim != 0 {
            return Err(EngineError::Usage(format!("queries of {} floats for {}-d vectors", queries.len(), self.dim)));
        }
        let n = queries.len() / self.dim;
        let k = k.min(VectorSearch::len(self) as usize);
        if k == 0 {
            return Ok(vec![Vec::new(); n]);
        }
        let mut distances = vec![0f32; n * k];
        let mut labels = vec![-1i64; n * k];
        // SAFETY: a const search on an index nobody mutates; buffers hold k results per query.
        let status = unsafe {
            faiss_sys::faiss_Index_search(
                self.index.inner_ptr(),
                n as i64,
                queries.as_ptr(),
                k as i64,
                distances.as_mut_ptr(),
                labels.as_mut_ptr(),
            )
        };
        if status != 0 {
            return Err(EngineError::Faiss(last_faiss_error()));
        }
        Ok(labels
            .chunks(k)
            .zip(distances.chunks(k))
            .map(|(l, d)| l.iter().copied().zip(d.iter().copied()).filter(|(id, _)| *id >= 0).collect())
            .collect())
    }
}

/// How FAISS scans an exact index for several queries at once: from `threshold` queries on, as
/// matrix products over blocks of `database_block` vectors (its defaults: 20 and 1,024). Global
/// to the process.
pub fn set_batched_scan(threshold: usize, database_block: usize) {
    // SAFETY: sets two global FAISS tuning integers.
    unsafe {
        faiss_sys::faiss_set_distance_compute_blas_threshold(threshold as i32);
        faiss_sys::faiss_set_distance_compute_blas_database_bs(database_block as i32);
    }
}

/// An evenly spread subset of the vectors for training.
fn training_sample(vectors: &[f32], dim: usize) -> Vec<f32> {
    let n = vectors.len() / dim;
    if n <= MAX_TRAINING {
        return vectors.to_vec();
    }
    let step = n as f64 / MAX_TRAINING as f64;
    (0..MAX_TRAINING).flat_map(|i| &vectors[(i as f64 * step) as usize * dim..][..dim]).copied().collect()
}

fn last_faiss_error() -> String {
    // SAFETY: FAISS keeps the last error message per thread; null when there is none.
    unsafe {
        let p = faiss_sys::faiss_get_last_error();
        if p.is_null() { "unknown FAISS error".into() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
    }
}

/// Builds a tiny exact inner-product index with explicit ids and checks that FAISS ranks it
/// correctly: proves the native library is linked and computing, not just present.
pub fn self_check() -> Result<()> {
    let mut index = IdMap::new(FlatIndex::new_ip(4)?)?;
    let vectors = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.6, 0.8, 0.0, 0.0];
    index.add_with_ids(&vectors, &[Idx::new(10), Idx::new(20), Idx::new(30)])?;
    let found = ConcurrentIndex::search(&index, &[0.0, 1.0, 0.0, 0.0], 2)?;
    let labels: Vec<Option<u64>> = found.labels.iter().map(|l| l.get()).collect();
    if labels != [Some(20), Some(30)] || (found.distances[1] - 0.8).abs() > 1e-6 {
        return Err(EngineError::Faiss(format!("self-check ranked wrongly: labels {labels:?}, scores {:?}", found.distances)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{store::{VectorSearch, VectorStore}};

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    /// Deterministic pseudo-random unit vectors.
    fn random(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let v: Vec<f32> = (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 2000) as f32 / 1000.0 - 1.0
                })
                .collect();
            out.extend(unit(&v));
        }
        out
    }

    #[test]
    fn reports_the_bundled_faiss_version() {
        assert!(faiss_version().starts_with("1.12"), "{}", faiss_version());
    }

    #[test]
    fn self_check_passes() {
        self_check().unwrap();
    }

    #[test]
    fn factories_get_ids_attached_correctly() {
        assert_eq!(normalise_factory("Flat").unwrap(), "IDMap,Flat");
        assert_eq!(normalise_factory("HNSW32").unwrap(), "IDMap,HNSW32");
        assert_eq!(normalise_factory("IVF64,Flat").unwrap(), "IVF64,Flat");
        assert!(normalise_factory("IDMap,IVF64,Flat").unwrap_err().to_string().contains("drop the IDMap"));
    }

    #[test]
    fn flat_search_equals_brute_force_with_ids() {
        let dim = 16;
        let data = random(200, dim, 7);
        let ids: Vec<i64> = (0..200).map(|i| 1000 + i * 3).collect();
        let index = FaissStore::flat(dim, &ids, &data).unwrap();
        let q = &data[5 * dim..6 * dim];
        let got = index.search_one(q, 10).unwrap();
        let mut want: Vec<(i64, f32)> =
            ids.iter().enumerate().map(|(i, id)| (*id, data[i * dim..][..dim].iter().zip(q).map(|(a, b)| a * b).sum())).collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(got.iter().map(|h| h.0).collect::<Vec<_>>(), want[..10].iter().map(|h| h.0).collect::<Vec<_>>());
        assert_eq!(got[0].0, 1015);
        assert!((got[0].1 - 1.0).abs() < 1e-5);
    }

    #[test]
    fn ivf_and_hnsw_keep_ids_and_find_the_exact_match() {
        let dim = 16;
        let data = random(2000, dim, 11);
        let ids: Vec<i64> = (0..2000).map(|i| 5 + i * 2).collect();
        for factory in ["IVF16,Flat", "HNSW16"] {
            let index = FaissStore::build(dim, factory, &ids, &data).unwrap();
            let hits = index.search_one(&data[100 * dim..101 * dim], 3).unwrap();
            assert_eq!(hits[0].0, 205, "{factory}");
        }
    }

    #[test]
    fn untrainable_factories_explain_themselves() {
        let err = FaissStore::build(8, "IVF256,Flat", &[1, 2], &random(2, 8, 3)).err().unwrap().to_string();
        assert!(err.contains("cannot be trained on 2 images"), "{err}");
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let d = tempfile::tempdir().unwrap();
        let dim = 8;
        let data = random(50, dim, 5);
        let ids: Vec<i64> = (1..=50).collect();
        let index = FaissStore::flat(dim, &ids, &data).unwrap();
        let path = d.path().join("vectors.faiss");
        index.save_to(&path).unwrap();
        assert!(!d.path().join("vectors.faiss.tmp").exists());
        let back = FaissStore::load(&path, dim).unwrap();
        assert_eq!(back.len(), 50);
        assert_eq!(back.search_one(&data[..dim], 1).unwrap()[0].0, 1);
        assert!(FaissStore::load(&path, 9).is_err());
    }

    #[test]
    fn batched_search_equals_single_searches() {
        let dim = 16;
        let data = random(300, dim, 9);
        let ids: Vec<i64> = (0..300).collect();
        let index = FaissStore::flat(dim, &ids, &data).unwrap();
        let queries = &data[..5 * dim];
        let many = index.search(queries, 7).unwrap();
        for (i, hits) in many.iter().enumerate() {
            assert_eq!(*hits, index.search_one(&queries[i * dim..][..dim], 7).unwrap());
        }
    }

    #[test]
    fn adds_and_removals_by_id_change_what_is_found() {
        let dim = 16;
        let data = random(300, dim, 13);
        let ids: Vec<i64> = (0..300).map(|i| 10 + i).collect();
        for factory in ["Flat", "IVF8,Flat"] {
            let mut store = FaissStore::build(dim, factory, &ids[..200], &data[..200 * dim]).unwrap();
            store.add(&ids[200..], &data[200 * dim..]).unwrap();
            assert_eq!(store.len(), 300, "{factory}");
            assert_eq!(store.search_one(&data[250 * dim..251 * dim], 1).unwrap()[0].0, 260, "{factory}");
            assert_eq!(store.remove(&[260, 261, 99_999]).unwrap(), 2, "{factory}");
            assert_eq!(store.len(), 298, "{factory}");
            let hits = store.search_one(&data[250 * dim..251 * dim], 300).unwrap();
            assert!(hits.iter().all(|(id, _)| *id != 260 && *id != 261), "{factory}");
            assert!(store.add(&[1], &data[..dim - 1]).is_err(), "a short vector is refused");
        }
    }

    #[test]
    fn empty_indexes_answer_nothing() {
        let index = FaissStore::build(8, "IVF4,Flat", &[], &[]).unwrap();
        assert!(index.search_one(&[0.0; 8], 5).unwrap().is_empty());
    }
}
