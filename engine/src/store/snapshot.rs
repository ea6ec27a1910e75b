//! The approximate index's life cycle: a FAISS snapshot file plus the catalog's vector log.
//!
//! Crash safety is a snapshot and a replay log. The catalog logs every id whose vector changed,
//! in the same transaction as the change. A snapshot file holds the index as of one log
//! position; it is written under a new name, synced, and only then named in the catalog (with
//! its position, `nprobe` and measured recall) in one transaction that also trims the log. A
//! loader replays the ids logged after the snapshot's position: remove each, then add back those
//! the catalog still has, from the vector file. Replay is idempotent, so replaying an id twice
//! does no harm; a snapshot file written but not yet named (a kill before the commit) is never
//! read and is deleted by the next run. Nothing is rebuilt from scratch except on retraining,
//! which the size policy asks for when the library has grown or shrunk fourfold.

use std::path::Path;

use crate::catalog::vector_file::{MappedVectors, FILE_KEY, SLOTS_KEY};
use super::{
    faiss_store::FaissStore,
    policy::{self, FactoryChoice, IndexPolicy, EXACT},
    VectorSearch, VectorStore,
};
use crate::{catalog::Catalog, support::killpoint, Result};

const FILE: &str = "ann_file";
const SEQ: &str = "ann_seq";
const FACTORY: &str = "ann_factory";
const TRAINED_ON: &str = "ann_trained_on";
const NPROBE: &str = "ann_nprobe";
const RECALL: &str = "ann_recall";
const DEPTH: &str = "ann_depth";
const COUNT: &str = "ann_count";
/// Vectors copied into FAISS at a time.
const CHUNK: usize = 65_536;
/// Queries that measure recall when `nprobe` is chosen.
const RECALL_QUERIES: usize = 200;

/// The approximate index snapshot the catalog names.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// File name inside the index folder.
    pub file: String,
    /// The vector log position it holds.
    pub seq: i64,
    /// FAISS factory string.
    pub factory: String,
    /// How many vectors it was trained with.
    pub trained_on: u64,
    /// IVF lists visited per search.
    pub nprobe: u32,
    /// Candidates re-ranked for ten results (see [`candidates_for`]).
    pub depth: u32,
    /// Recall@10 against exact search measured when `nprobe` and `depth` were chosen.
    pub recall: Option<f32>,
}

impl Snapshot {
    /// The snapshot recorded in `catalog`, if any.
    pub fn read(catalog: &Catalog) -> Result<Option<Snapshot>> {
        let Some(file) = catalog.meta(FILE)? else { return Ok(None) };
        let number = |key: &str| -> Result<Option<f64>> { Ok(catalog.meta(key)?.and_then(|v| v.parse().ok())) };
        Ok(Some(Snapshot {
            file,
            seq: number(SEQ)?.unwrap_or(0.0) as i64,
            factory: catalog.meta(FACTORY)?.unwrap_or_default(),
            trained_on: number(TRAINED_ON)?.unwrap_or(0.0) as u64,
            nprobe: number(NPROBE)?.unwrap_or(32.0) as u32,
            depth: number(DEPTH)?.unwrap_or(MIN_DEPTH as f64) as u32,
            recall: number(RECALL)?.map(|r| r as f32),
        }))
    }
}

/// What a search process loads, read from one committed state of the catalog.
pub struct Committed {
    /// The vector file's name (none before the first vector).
    pub vector_file: Option<String>,
    /// Committed slots of the vector file.
    pub slots: u64,
    /// Every image's (id, slot).
    pub pairs: Vec<(i64, u64)>,
    /// The approximate snapshot, when the library has one.
    pub snapshot: Option<Snapshot>,
    /// Ids logged since the snapshot (all logged ids when there is none).
    pub pending: Vec<i64>,
    /// The vector log's last position.
    pub position: i64,
}

impl Committed {
    /// Reads it in one read transaction.
    pub fn read(catalog: &Catalog) -> Result<Committed> {
        catalog.read(|c| {
            let snapshot = Snapshot::read(c)?;
            Ok(Committed {
                vector_file: c.meta(FILE_KEY)?,
                slots: c.meta(SLOTS_KEY)?.and_then(|s| s.parse().ok()).unwrap_or(0),
                pairs: c.slots()?,
                pending: c.logged_since(snapshot.as_ref().map_or(0, |s| s.seq))?,
                position: c.log_position()?,
                snapshot,
            })
        })
    }

    /// Maps the committed part of the vector file.
    pub fn map(&self, index_dir: &Path, dim: usize) -> Result<MappedVectors> {
        let name = self.vector_file.as_deref().unwrap_or("vectors-0.f32");
        MappedVectors::open(&index_dir.join(name), self.slots, dim)
    }
}

/// Calls `f` with the vectors of `pairs`, `CHUNK` at a time, as ids and back-to-back floats.
pub fn in_chunks(pairs: &[(i64, u64)], mapped: &MappedVectors, mut f: impl FnMut(&[i64], &[f32]) -> Result<()>) -> Result<()> {
    for chunk in pairs.chunks(CHUNK) {
        let mut vectors = Vec::with_capacity(chunk.len() * mapped.dim());
        for &(id, slot) in chunk {
            vectors.extend_from_slice(mapped.vector(slot, id)?);
        }
        let ids: Vec<i64> = chunk.iter().map(|p| p.0).collect();
        f(&ids, &vectors)?;
    }
    Ok(())
}

/// An exact index over `pairs`, in memory.
pub fn exact(pairs: &[(i64, u64)], mapped: &MappedVectors) -> Result<FaissStore> {
    let mut index = FaissStore::flat(mapped.dim(), &[], &[])?;
    in_chunks(pairs, mapped, |ids, vectors| index.add(ids, vectors))?;
    Ok(index)
}

/// Brings `index` up to date with the ids logged after its snapshot: each is removed, and added
/// back with its current vector when the catalog still has it. `pairs` is sorted by id.
pub fn replay(index: &mut FaissStore, pending: &[i64], pairs: &[(i64, u64)], mapped: &MappedVectors) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    index.remove(pending)?;
    let present: Vec<(i64, u64)> = pending
        .iter()
        .filter_map(|id| pairs.binary_search_by_key(id, |p| p.0).ok().map(|i| pairs[i]))
        .collect();
    in_chunks(&present, mapped, |ids, vectors| index.add(ids, vectors))
}

/// What [`maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Maintenance {
    /// The index type searches use now (`Flat` = exact).
    pub factory: String,
    /// Whether a new snapshot was written (trained, or the log folded into it).
    pub written: bool,
    /// Whether the approximate index was (re)trained.
    pub retrained: bool,
    /// Recall@10 against exact search of the current approximate index.
    pub recall: Option<f32>,
    /// IVF lists visited per search.
    pub nprobe: Option<u32>,
    /// Candidates re-ranked for ten results.
    pub depth: Option<u32>,
}

/// After an indexing run: picks the index type for the library's size, and trains a new
/// snapshot, folds a long log into the current one, or leaves it as it is (the common case:
/// the few changes of a run stay in the log and are replayed when loaded).
pub fn maintain(catalog: &mut Catalog, index_dir: &Path, dim: usize, choice: &FactoryChoice, policy: &IndexPolicy) -> Result<Maintenance> {
    let n = catalog.vector_count()?;
    let current = Snapshot::read(catalog)?.filter(|s| index_dir.join(&s.file).is_file());
    // Whether the current snapshot is still what the choice asks for at this size.
    let fits = |s: &Snapshot| match choice {
        FactoryChoice::Auto => policy.still_fits(s.trained_on, n),
        FactoryChoice::Fixed(f) => s.factory == *f,
    };
    let want = match (choice, &current) {
        (FactoryChoice::Fixed(f), _) => f.clone(),
        (FactoryChoice::Auto, Some(s)) if fits(s) => s.factory.clone(),
        (FactoryChoice::Auto, _) => policy.factory_for(n),
    };
    let outcome = if want == EXACT {
        drop_snapshot(catalog)?;
        Maintenance { factory: want, ..Maintenance::default() }
    } else {
        match current.filter(|s| fits(s) && s.factory == want) {
            None => train(catalog, index_dir, dim, &want, policy)?,
            Some(s) => match catalog.logged_since(s.seq)?.len() as u64 {
                // Only IVF removes ids in place; other types are rebuilt when anything changed.
                pending if pending > 0 && ivf_lists(&s.factory).is_none() => train(catalog, index_dir, dim, &want, policy)?,
                // Replaying the log at load should stay a moment: more than 1% of the library
                // (and at least 1,000 ids) is folded into a new snapshot.
                pending if pending > (n / 100).max(1_000) => fold(catalog, index_dir, dim, s)?,
                _ => Maintenance { factory: s.factory, recall: s.recall, nprobe: Some(s.nprobe), depth: Some(s.depth), ..Maintenance::default() },
            },
        }
    };
    remove_unused(catalog, index_dir)?;
    Ok(outcome)
}

/// Exact search needs no snapshot, and no log either.
fn drop_snapshot(catalog: &mut Catalog) -> Result<()> {
    if Snapshot::read(catalog)?.is_none() && catalog.log_position()? == 0 {
        return Ok(());
    }
    catalog.write(|w| {
        for key in [FILE, SEQ, FACTORY, TRAINED_ON, NPROBE, DEPTH, RECALL] {
            w.delete_meta(key)?;
        }
        w.trim_log(None)
    })
}

/// Trains a new approximate index of type `factory` on the library, tunes its searches, and
/// commits it as the snapshot.
fn train(catalog: &mut Catalog, index_dir: &Path, dim: usize, factory: &str, policy: &IndexPolicy) -> Result<Maintenance> {
    let committed = Committed::read(catalog)?;
    let seq = committed.position;
    let mapped = committed.map(index_dir, dim)?;
    let mut pairs = committed.pairs;
    pairs.sort_unstable();
    let lists = ivf_lists(factory);
    let sample = training_sample(&pairs, &mapped, lists.map_or(100_000, policy::training_size))?;
    let mut index = FaissStore::trained(dim, factory, &sample)?;
    killpoint::reached("snapshot-trained");
    in_chunks(&pairs, &mapped, |ids, vectors| index.add(ids, vectors))?;
    killpoint::reached("snapshot-filled");
    let tuning = tune(&index, &pairs, &mapped, lists, policy.target_recall)?;
    let snapshot = Snapshot {
        file: String::new(),
        seq,
        factory: factory.to_string(),
        trained_on: pairs.len() as u64,
        nprobe: tuning.nprobe,
        depth: tuning.depth,
        recall: Some(tuning.recall),
    };
    commit(catalog, index_dir, &index, snapshot)?;
    let nprobe = lists.map(|_| tuning.nprobe);
    Ok(Maintenance { factory: factory.to_string(), written: true, retrained: true, recall: Some(tuning.recall), nprobe, depth: Some(tuning.depth) })
}

/// Loads the current snapshot, replays the log into it and commits it as a new snapshot.
fn fold(catalog: &mut Catalog, index_dir: &Path, dim: usize, current: Snapshot) -> Result<Maintenance> {
    let committed = Committed::read(catalog)?;
    let seq = committed.position;
    let mapped = committed.map(index_dir, dim)?;
    let mut pairs = committed.pairs;
    pairs.sort_unstable();
    let mut index = FaissStore::load(&index_dir.join(&current.file), dim)?;
    replay(&mut index, &committed.pending, &pairs, &mapped)?;
    killpoint::reached("snapshot-folded");
    let outcome = Maintenance {
        factory: current.factory.clone(),
        written: true,
        retrained: false,
        recall: current.recall,
        nprobe: Some(current.nprobe),
        depth: Some(current.depth),
    };
    commit(catalog, index_dir, &index, Snapshot { seq, ..current })?;
    Ok(outcome)
}

/// Writes `index` under a new name, then names it in the catalog and trims the log it holds.
fn commit(catalog: &mut Catalog, index_dir: &Path, index: &FaissStore, mut snapshot: Snapshot) -> Result<()> {
    let number = catalog.meta(COUNT)?.and_then(|c| c.parse::<u64>().ok()).unwrap_or(0) + 1;
    snapshot.file = format!("ann-{number}.faiss");
    index.save_to(&index_dir.join(&snapshot.file))?;
    killpoint::reached("snapshot-saved");
    catalog.write(|w| {
        w.set_meta(FILE, &snapshot.file)?;
        w.set_meta(SEQ, &snapshot.seq.to_string())?;
        w.set_meta(FACTORY, &snapshot.factory)?;
        w.set_meta(TRAINED_ON, &snapshot.trained_on.to_string())?;
        w.set_meta(NPROBE, &snapshot.nprobe.to_string())?;
        w.set_meta(DEPTH, &snapshot.depth.to_string())?;
        match snapshot.recall {
            Some(r) => w.set_meta(RECALL, &r.to_string())?,
            None => w.delete_meta(RECALL)?,
        }
        w.set_meta(COUNT, &number.to_string())?;
        w.trim_log(Some(snapshot.seq))
    })?;
    killpoint::reached("snapshot-committed");
    Ok(())
}

/// Deletes snapshot files the catalog does not name (replaced ones; a killed run's). A search
/// process that still has one open keeps reading it: the file lives until it is closed.
fn remove_unused(catalog: &Catalog, index_dir: &Path) -> Result<()> {
    let keep = catalog.meta(FILE)?;
    let Ok(entries) = std::fs::read_dir(index_dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_snapshot = name.starts_with("ann-") && (name.ends_with(".faiss") || name.ends_with(".faiss.tmp"));
        if is_snapshot && Some(&name) != keep.as_ref() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The list count of an IVF factory string (`IVF1024,SQ8` → 1024).
pub fn ivf_lists(factory: &str) -> Option<u32> {
    let rest = factory.trim().strip_prefix("IVF")?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// An evenly spread sample of at most `size` vectors, back to back.
fn training_sample(pairs: &[(i64, u64)], mapped: &MappedVectors, size: usize) -> Result<Vec<f32>> {
    let step = (pairs.len() as f64 / size.max(1) as f64).max(1.0);
    let mut sample = Vec::new();
    let mut at = 0.0;
    while (at as usize) < pairs.len() {
        let (id, slot) = pairs[at as usize];
        sample.extend_from_slice(mapped.vector(slot, id)?);
        at += step;
    }
    Ok(sample)
}

/// Exact cosine for approximate candidates: the `k` best by their true similarity to `query`.
pub fn rerank(query: &[f32], candidates: &[(i64, f32)], k: usize, vector_of: impl Fn(i64) -> Option<Vec<f32>>) -> Vec<(i64, f32)> {
    let mut scored: Vec<(i64, f32)> = candidates
        .iter()
        .filter_map(|&(id, _)| vector_of(id).map(|v| (id, v.iter().zip(query).map(|(a, b)| a * b).sum())))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// The fewest candidates re-ranked for ten results; SQ8 codes rank well enough with these.
const MIN_DEPTH: u32 = 64;
/// The most: coarse codes (PQ) of a big library need hundreds (about 1,000 for PQ64 at 10M),
/// and each costs one 2 KB read from the vector file.
const MAX_DEPTH: u32 = 4096;

/// How many approximate candidates are re-ranked for `k` results, for a snapshot tuned to
/// re-rank `depth` for ten.
pub fn candidates_for(k: usize, depth: u32) -> usize {
    (depth as usize * k.max(10)).div_ceil(10)
}

/// How searches of an approximate index are tuned.
struct Tuning {
    nprobe: u32,
    depth: u32,
    recall: f32,
}

/// Tunes the searches of `index` to reach `target` recall@10 against exact search, measured on
/// queries made from the library's own vectors (half of them a vector with noise, half the
/// midpoint of two: harder than a query near one photo). First the re-rank depth, probing an
/// eighth of the lists so that missed lists do not count against the codes: the smallest power
/// of two from `MIN_DEPTH` that reaches it. Then, at that depth, twice the smallest power-of-two
/// `nprobe` that reaches it; the factor two is a margin for queries unlike these (text, far from
/// every photo) and costs a millisecond.
fn tune(index: &FaissStore, pairs: &[(i64, u64)], mapped: &MappedVectors, lists: Option<u32>, target: f32) -> Result<Tuning> {
    const K: usize = 10;
    let queries = recall_queries(pairs, mapped)?;
    let truth = exact_top(pairs, mapped, &queries, K)?;
    let slot_of = |id: i64| pairs.binary_search_by_key(&id, |p| p.0).ok().and_then(|i| mapped.read(pairs[i].1, id).ok());
    let recall_at = |nprobe: u32, depth: u32| -> Result<f32> {
        if lists.is_some() {
            index.set_nprobe(nprobe);
        }
        let found = index.search(&queries, candidates_for(K, depth))?;
        let dim = mapped.dim();
        let hits: usize = found
            .iter()
            .enumerate()
            .map(|(q, candidates)| {
                let top = rerank(&queries[q * dim..][..dim], candidates, K, slot_of);
                top.iter().filter(|(id, _)| truth[q].contains(id)).count()
            })
            .sum();
        Ok(hits as f32 / truth.iter().map(Vec::len).sum::<usize>().max(1) as f32)
    };
    let wide = lists.map_or(0, |l| (l / 8).max(1));
    let mut depth = MIN_DEPTH;
    while depth < MAX_DEPTH && recall_at(wide, depth)? < target {
        depth *= 2;
    }
    let Some(lists) = lists else {
        return Ok(Tuning { nprobe: 0, depth, recall: recall_at(0, depth)? });
    };
    let mut nprobe = 1;
    while nprobe < lists && recall_at(nprobe, depth)? < target {
        nprobe *= 2;
    }
    let nprobe = (nprobe * 2).min(lists);
    let recall = recall_at(nprobe, depth)?;
    tracing::info!("nprobe {nprobe} of {lists} lists, {depth} candidates re-ranked: recall@10 {recall:.3} against exact search");
    Ok(Tuning { nprobe, depth, recall })
}

fn recall_queries(pairs: &[(i64, u64)], mapped: &MappedVectors) -> Result<Vec<f32>> {
    let m = RECALL_QUERIES.min(pairs.len());
    let mut queries = Vec::with_capacity(m * mapped.dim());
    let mut noise = 0x2545_F491_4F6C_DD1D_u64;
    for i in 0..m {
        let (id, slot) = pairs[i * pairs.len() / m];
        let a = mapped.vector(slot, id)?;
        let q: Vec<f32> = if i % 2 == 0 {
            a.iter()
                .map(|x| {
                    noise ^= noise << 13;
                    noise ^= noise >> 7;
                    noise ^= noise << 17;
                    x + ((noise % 2001) as f32 / 1000.0 - 1.0) * 0.05
                })
                .collect()
        } else {
            let (id_b, slot_b) = pairs[(i * pairs.len() / m + pairs.len() / 2) % pairs.len()];
            a.iter().zip(mapped.vector(slot_b, id_b)?).map(|(x, y)| x + y).collect()
        };
        let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        queries.extend(q.iter().map(|x| x / norm));
    }
    Ok(queries)
}

/// The exact top `k` ids of each query, by a flat scan of the vector file in chunks.
pub fn exact_top(pairs: &[(i64, u64)], mapped: &MappedVectors, queries: &[f32], k: usize) -> Result<Vec<Vec<i64>>> {
    let m = queries.len() / mapped.dim();
    let mut best: Vec<Vec<(i64, f32)>> = vec![Vec::new(); m];
    in_chunks(pairs, mapped, |ids, vectors| {
        let chunk = FaissStore::flat(mapped.dim(), ids, vectors)?;
        for (q, hits) in chunk.search(queries, k)?.into_iter().enumerate() {
            best[q].extend(hits);
            best[q].sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            best[q].truncate(k);
        }
        Ok(())
    })?;
    Ok(best.into_iter().map(|hits| hits.into_iter().map(|h| h.0).collect()).collect())
}

/// Loads the snapshot's index, checked against the library's dimension, with its `nprobe`.
pub fn load(snapshot: &Snapshot, index_dir: &Path, dim: usize) -> Result<FaissStore> {
    let index = FaissStore::load(&index_dir.join(&snapshot.file), dim)?;
    if ivf_lists(&snapshot.factory).is_some() {
        index.set_nprobe(snapshot.nprobe.max(1));
    }
    Ok(index)
}
