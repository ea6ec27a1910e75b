//! Near-duplicate review: groups of exact copies (same content hash), near copies (embeddings
//! at least `threshold` alike: resized, re-encoded, lightly edited) and bursts (near copies
//! taken within seconds of each other, by their EXIF times). Exact copies always form their own
//! group; near copies and bursts list each content once. clipfind only reports them; it never
//! deletes a file.
//!
//! Scaling: each distinct content asks for its nearest neighbours, exactly up to
//! [`EXACT_UP_TO`] images; above, the library is cut into sqrt(N) blocks of nearby vectors and
//! each block is searched against itself and its nearest blocks only (near copies sit far
//! closer than a block is wide), never an all-pairs scan. The pairs found are kept down to
//! [`MIN_THRESHOLD`], so any threshold above it groups again without a search.

use std::collections::HashMap;

use serde::Serialize;

use crate::{
    catalog::ImageRow,
    media::photo_meta::TakenSource,
    store::{faiss_store::FaissStore, VectorSearch},
    Result,
};

/// The lowest threshold the pairs are kept for (the page's slider starts here).
pub const MIN_THRESHOLD: f32 = 0.80;
/// The default: resized and re-encoded copies stay above it with CLIP-like encoders.
pub const DEFAULT_THRESHOLD: f32 = 0.95;
/// Consecutive shots at most this many seconds apart (by EXIF capture time) are a burst.
pub const DEFAULT_BURST_SECONDS: i64 = 5;
/// Up to this many distinct images the neighbour search is exact.
pub const EXACT_UP_TO: usize = 5_000;
/// Sample vectors per block for placing the blocks.
const TRAINING_PER_LIST: usize = 40;
/// Neighbours asked for per image: a group larger than this is still found, through chains.
const NEIGHBOURS: usize = 16;
/// Queries per FAISS call (a matrix product each).
const QUERY_CHUNK: usize = 1024;

/// What kind of sameness holds a group together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// Byte-identical files.
    Exact,
    /// Different files of (nearly) the same picture.
    Near,
    /// Near copies shot seconds apart.
    Burst,
}

/// One file of a group.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// Catalog id.
    pub id: i64,
    /// Path as stored (`NAME/...` in a library of several folders).
    pub path: String,
    /// File size in bytes.
    pub size: u64,
    /// Upright width in pixels.
    pub width: u32,
    /// Upright height in pixels.
    pub height: u32,
    /// Capture time (ISO 8601), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Content hash: members with the same one are exact copies of each other.
    pub hash: String,
    /// Cosine similarity to the group's first member (1 for exact copies).
    pub similarity: f32,
    /// Other files with exactly this content (listed in their own exact-copies group).
    pub copies: usize,
}

/// Files that are copies or near copies of each other, the largest file first.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Exact copies, near copies or a burst.
    pub kind: GroupKind,
    /// At least two files.
    pub members: Vec<Member>,
}

/// Pairs of distinct contents at least [`MIN_THRESHOLD`] alike, found once per index version.
pub struct NearPairs {
    /// One row per distinct content hash (the largest file of it), index = position here.
    representatives: Vec<ImageRow>,
    /// Every row, by content hash.
    by_hash: HashMap<String, Vec<ImageRow>>,
    /// (a, b, similarity) with a < b, positions in `representatives`.
    pairs: Vec<(u32, u32, f32)>,
}

impl NearPairs {
    /// Searches the neighbours of every distinct content in `rows`; `vector(id)` reads an
    /// image's stored embedding.
    pub fn find(rows: Vec<ImageRow>, dim: usize, vector: impl Fn(i64) -> Result<Option<Vec<f32>>>) -> Result<NearPairs> {
        let by_hash = group_by_hash(rows);
        let mut representatives: Vec<ImageRow> = by_hash.values().map(|rows| rows[0].clone()).collect();
        representatives.sort_by_key(|r| r.id);
        let mut ids = Vec::with_capacity(representatives.len());
        let mut vectors = Vec::with_capacity(representatives.len() * dim);
        for (i, row) in representatives.iter().enumerate() {
            if let Some(v) = vector(row.id)? {
                ids.push(i as i64);
                vectors.extend_from_slice(&v);
            }
        }
        let pairs = neighbour_pairs(&ids, &vectors, dim)?;
        Ok(NearPairs { representatives, by_hash, pairs })
    }

    /// The groups at `threshold` (at least [`MIN_THRESHOLD`]), largest first: every set of
    /// byte-identical files is an exact-copies group of its own, and near copies and bursts
    /// list each content once (its largest file).
    pub fn groups(&self, threshold: f32, burst_seconds: i64) -> Vec<Group> {
        let mut sets = DisjointSets::new(self.representatives.len());
        for &(a, b, s) in &self.pairs {
            if s >= threshold {
                sets.join(a as usize, b as usize);
            }
        }
        let mut components: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..self.representatives.len() {
            components.entry(sets.root(i)).or_default().push(i);
        }
        let similarity = self.similarities();
        let exact = (self.by_hash.values()).filter(|rows| rows.len() > 1).map(|rows| self.exact_group(rows));
        let near = (components.into_values()).filter(|parts| parts.len() > 1).map(|parts| self.near_group(&parts, &similarity, burst_seconds));
        let mut groups: Vec<Group> = exact.chain(near).collect();
        groups.sort_by(|a, b| b.members.len().cmp(&a.members.len()).then_with(|| a.members[0].path.cmp(&b.members[0].path)));
        groups
    }

    /// Similarity by pair of representatives, both ways round.
    fn similarities(&self) -> HashMap<(u32, u32), f32> {
        self.pairs.iter().flat_map(|&(a, b, s)| [((a, b), s), ((b, a), s)]).collect()
    }

    /// Byte-identical files, ordered by path.
    fn exact_group(&self, rows: &[ImageRow]) -> Group {
        let mut members: Vec<Member> = rows.iter().map(|row| self.member(row, 1.0)).collect();
        members.sort_by(|a, b| a.path.cmp(&b.path));
        Group { kind: GroupKind::Exact, members }
    }

    /// Distinct contents joined by similarity, the largest file first (usually the original
    /// the others were made from).
    fn near_group(&self, parts: &[usize], similarity: &HashMap<(u32, u32), f32>, burst_seconds: i64) -> Group {
        let mut parts = parts.to_vec();
        let rows = |i: &usize| &self.representatives[*i];
        parts.sort_by(|a, b| rows(b).size.cmp(&rows(a).size).then(rows(b).width.cmp(&rows(a).width)).then(rows(a).path.cmp(&rows(b).path)));
        let shots: Vec<&ImageRow> = parts.iter().map(rows).collect();
        let kind = if is_burst(&shots, burst_seconds) { GroupKind::Burst } else { GroupKind::Near };
        let first = parts[0] as u32;
        let members = (parts.iter())
            .map(|&i| {
                // Members linked only through others have no direct pair kept: their similarity
                // is below the pairs kept, shown as that floor.
                let s = if i as u32 == first { 1.0 } else { similarity.get(&(first, i as u32)).copied().unwrap_or(MIN_THRESHOLD) };
                self.member(rows(&i), s)
            })
            .collect();
        Group { kind, members }
    }

    fn member(&self, row: &ImageRow, similarity: f32) -> Member {
        Member {
            id: row.id,
            path: row.path.clone(),
            size: row.size,
            width: row.width,
            height: row.height,
            taken: row.meta.taken.map(|t| t.iso()),
            hash: row.hash.clone(),
            similarity,
            copies: self.by_hash[&row.hash].len() - 1,
        }
    }
}

/// Rows by content hash, the largest file of each first.
fn group_by_hash(rows: Vec<ImageRow>) -> HashMap<String, Vec<ImageRow>> {
    let mut by_hash: HashMap<String, Vec<ImageRow>> = HashMap::new();
    for row in rows {
        by_hash.entry(row.hash.clone()).or_default().push(row);
    }
    for rows in by_hash.values_mut() {
        rows.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
    }
    by_hash
}

/// Whether every shot has an EXIF capture time and each follows the previous within
/// `burst_seconds` (file times do not count: copying files gives them close times too).
fn is_burst(rows: &[&ImageRow], burst_seconds: i64) -> bool {
    let mut times: Vec<i64> = Vec::with_capacity(rows.len());
    for row in rows {
        match row.meta.taken {
            Some(t) if t.source != TakenSource::FileTime => times.push(t.local),
            _ => return false,
        }
    }
    times.sort_unstable();
    times.dedup();
    // Identical times are copies, not a burst.
    times.len() == rows.len() && times.windows(2).all(|w| w[1] - w[0] <= burst_seconds)
}

/// (a, b, similarity), a < b, for every neighbour pair at least [`MIN_THRESHOLD`] alike.
fn neighbour_pairs(ids: &[i64], vectors: &[f32], dim: usize) -> Result<Vec<(u32, u32, f32)>> {
    let mut pairs = Vec::new();
    match ids.len() {
        0 | 1 => {}
        n if n <= EXACT_UP_TO => search_pairs(&FaissStore::flat(dim, ids, vectors)?, ids, vectors, dim, &mut pairs)?,
        _ => {
            let blocks = Blocks::of(vectors, dim)?;
            for block in blocks.joins() {
                let pool_ids: Vec<i64> = block.pool.iter().map(|&i| ids[i]).collect();
                let pool = FaissStore::flat(dim, &pool_ids, &gather(vectors, dim, block.pool))?;
                let query_ids: Vec<i64> = block.members.iter().map(|&i| ids[i]).collect();
                search_pairs(&pool, &query_ids, &gather(vectors, dim, block.members), dim, &mut pairs)?;
            }
        }
    }
    pairs.sort_by_key(|p| (p.0, p.1));
    pairs.dedup_by(|x, y| (x.0, x.1) == (y.0, y.1));
    Ok(pairs)
}

/// Each query's nearest neighbours in `index`, kept as pairs when at least [`MIN_THRESHOLD`] alike.
fn search_pairs(index: &FaissStore, query_ids: &[i64], queries: &[f32], dim: usize, pairs: &mut Vec<(u32, u32, f32)>) -> Result<()> {
    for (chunk, batch) in queries.chunks(QUERY_CHUNK * dim).enumerate() {
        for (q, found) in index.search(batch, NEIGHBOURS + 1)?.into_iter().enumerate() {
            let a = query_ids[chunk * QUERY_CHUNK + q];
            // A pair is found from both sides (unless one side's neighbours were all closer): dedup later.
            pairs.extend(found.into_iter().filter(|&(b, s)| b != a && s >= MIN_THRESHOLD).map(|(b, s)| (a.min(b) as u32, a.max(b) as u32, s)));
        }
    }
    Ok(())
}

/// The vectors at `positions`, back to back.
fn gather(vectors: &[f32], dim: usize, positions: &[usize]) -> Vec<f32> {
    positions.iter().flat_map(|&i| &vectors[i * dim..][..dim]).copied().collect()
}

/// The library cut into sqrt(N) blocks of nearby vectors (k-means on a sample, a few rounds),
/// each searched against its pool by one matrix product: cache-friendly, unlike a per-image
/// search, which reads every probed list again for each image. A block's members are the
/// vectors nearest its centroid; its pool, every vector with that centroid among its
/// [`POOL_CENTROIDS`] nearest. A near copy sits far closer to its original than the blocks are
/// wide, so the original's block is among its nearest centroids even across a block boundary.
struct Blocks {
    /// Positions of the vectors nearest each centroid.
    members: Vec<Vec<usize>>,
    /// Positions of the vectors with each centroid among their nearest few.
    pools: Vec<Vec<usize>>,
}

/// How many nearest centroids put a vector in a block's pool.
const POOL_CENTROIDS: usize = 4;
/// Rounds of k-means that place the blocks.
const KMEANS_ROUNDS: usize = 4;

/// One block's join: its members against its pool.
struct Join<'a> {
    members: &'a [usize],
    pool: &'a [usize],
}

impl Blocks {
    fn of(vectors: &[f32], dim: usize) -> Result<Blocks> {
        let n = vectors.len() / dim;
        let count = ((n as f64).sqrt().round() as usize).max(1);
        let sample = spread_sample(vectors, dim, count * TRAINING_PER_LIST);
        let mut centroids = spread_sample(vectors, dim, count);
        for _ in 0..KMEANS_ROUNDS {
            let assigned: Vec<usize> = nearest_centroids(&centroids, &sample, dim, 1)?.into_iter().map(|c| c[0]).collect();
            centroids = means(&sample, dim, &assigned, centroids);
        }
        let (mut members, mut pools) = (vec![Vec::new(); count], vec![Vec::new(); count]);
        for (i, nearest) in nearest_centroids(&centroids, vectors, dim, POOL_CENTROIDS)?.into_iter().enumerate() {
            members[nearest[0]].push(i);
            nearest.iter().for_each(|&c| pools[c].push(i));
        }
        Ok(Blocks { members, pools })
    }

    fn joins(&self) -> impl Iterator<Item = Join<'_>> {
        (self.members.iter().zip(&self.pools)).filter(|(members, _)| !members.is_empty()).map(|(members, pool)| Join { members, pool })
    }
}

/// The `most` nearest centroids of each vector, nearest first.
fn nearest_centroids(centroids: &[f32], vectors: &[f32], dim: usize, most: usize) -> Result<Vec<Vec<usize>>> {
    let labels: Vec<i64> = (0..(centroids.len() / dim) as i64).collect();
    let index = FaissStore::flat(dim, &labels, centroids)?;
    let mut nearest = Vec::with_capacity(vectors.len() / dim);
    for batch in vectors.chunks(QUERY_CHUNK * dim) {
        nearest.extend(index.search(batch, most)?.into_iter().map(|found| found.into_iter().map(|(c, _)| c as usize).collect::<Vec<_>>()));
    }
    Ok(nearest)
}

/// The normalised mean of each centroid's vectors; a centroid nothing chose stays where it was.
fn means(vectors: &[f32], dim: usize, assigned: &[usize], mut centroids: Vec<f32>) -> Vec<f32> {
    let count = centroids.len() / dim;
    let mut sums = vec![0f32; count * dim];
    let mut chosen = vec![0usize; count];
    for (v, &c) in vectors.chunks(dim).zip(assigned) {
        sums[c * dim..][..dim].iter_mut().zip(v).for_each(|(s, x)| *s += x);
        chosen[c] += 1;
    }
    for c in (0..count).filter(|&c| chosen[c] > 0) {
        let sum = &sums[c * dim..][..dim];
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        centroids[c * dim..][..dim].iter_mut().zip(sum).for_each(|(out, x)| *out = x / norm);
    }
    centroids
}

/// `count` vectors spread evenly over `vectors` (all of them when there are fewer).
fn spread_sample(vectors: &[f32], dim: usize, count: usize) -> Vec<f32> {
    let n = vectors.len() / dim;
    if n <= count {
        return vectors.to_vec();
    }
    (0..count).flat_map(|i| &vectors[i * n / count * dim..][..dim]).copied().collect()
}

/// Union-find with path halving.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        DisjointSets { parent: (0..n).collect() }
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{media::photo_meta::{PhotoMeta, Taken}};

    fn row(id: i64, hash: &str, size: u64, exif_time: Option<i64>) -> ImageRow {
        let taken = exif_time.map(|local| Taken { local, offset_minutes: None, source: TakenSource::ExifOriginal });
        ImageRow {
            id,
            path: format!("{id}.jpg"),
            size,
            mtime_ns: 0,
            hash: hash.into(),
            width: 10,
            height: 10,
            indexed_at: 0,
            slot: id as u64,
            meta: PhotoMeta { taken, ..PhotoMeta::default() },
            video: None,
            motion_ms: None,
        }
    }

    /// Unit vectors at `angle` radians in the plane of axes 0 and 1 (cosine between two of them
    /// is the cosine of their angle difference), or along axis `axis` when `angle` is NaN.
    fn unit(angle: f32, axis: usize) -> Vec<f32> {
        let mut v = vec![0.0; 8];
        if angle.is_nan() {
            v[axis] = 1.0;
        } else {
            (v[0], v[1]) = (angle.cos(), angle.sin());
        }
        v
    }

    fn pairs_of(rows: Vec<ImageRow>, vectors: HashMap<i64, Vec<f32>>) -> NearPairs {
        NearPairs::find(rows, 8, |id| Ok(vectors.get(&id).cloned())).unwrap()
    }

    #[test]
    fn exact_copies_near_copies_and_bursts_are_told_apart() {
        let rows = vec![
            row(1, "a", 300, None),
            row(2, "a", 300, None),         // exact copy of 1
            row(3, "b", 900, None),         // b, c: near copies (cosine 0.98)
            row(4, "c", 200, None),
            row(5, "d", 500, Some(1000)),   // d, e: a burst, 2 s apart
            row(6, "e", 500, Some(1002)),
            row(7, "f", 500, None),         // alone
        ];
        let vectors = HashMap::from([
            (1, unit(f32::NAN, 2)),
            (3, unit(0.0, 0)),
            (4, unit(0.2, 0)),
            (5, unit(f32::NAN, 4)),
            (6, {
                let mut v = unit(f32::NAN, 4);
                v[5] = 0.1;
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / n).collect()
            }),
            (7, unit(f32::NAN, 6)),
        ]);
        let groups = pairs_of(rows, vectors).groups(DEFAULT_THRESHOLD, DEFAULT_BURST_SECONDS);
        let described: Vec<(GroupKind, Vec<i64>)> = groups.iter().map(|g| (g.kind, g.members.iter().map(|m| m.id).collect())).collect();
        assert_eq!(described.len(), 3, "{described:?}");
        assert!(described.contains(&(GroupKind::Exact, vec![1, 2])));
        assert!(groups.iter().all(|g| g.kind == GroupKind::Exact || g.members.iter().all(|m| m.copies == 0)));
        assert!(described.contains(&(GroupKind::Near, vec![3, 4])), "the larger file first: {described:?}");
        assert!(described.contains(&(GroupKind::Burst, vec![5, 6])));
        let near = groups.iter().find(|g| g.kind == GroupKind::Near).unwrap();
        assert!((near.members[1].similarity - 0.2f32.cos()).abs() < 1e-5);
    }

    #[test]
    fn copies_inside_a_near_group_keep_their_own_exact_group() {
        let rows = vec![row(1, "a", 500, None), row(2, "a", 500, None), row(3, "b", 100, None)];
        let vectors = HashMap::from([(1, unit(0.0, 0)), (3, unit(0.1, 0))]);
        let groups = pairs_of(rows, vectors).groups(DEFAULT_THRESHOLD, DEFAULT_BURST_SECONDS);
        assert_eq!(groups.len(), 2);
        let exact = groups.iter().find(|g| g.kind == GroupKind::Exact).unwrap();
        assert_eq!(exact.members.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
        let near = groups.iter().find(|g| g.kind == GroupKind::Near).unwrap();
        assert_eq!(near.members.iter().map(|m| (m.id, m.copies)).collect::<Vec<_>>(), [(1, 1), (3, 0)], "content a once, noting its copy");
    }

    #[test]
    fn the_threshold_decides_what_counts_as_near() {
        let rows = vec![row(1, "a", 1, None), row(2, "b", 1, None)];
        let vectors = HashMap::from([(1, unit(0.0, 0)), (2, unit(0.5, 0))]); // cosine 0.878
        let pairs = pairs_of(rows, vectors);
        assert!(pairs.groups(0.95, 5).is_empty());
        assert_eq!(pairs.groups(0.85, 5).len(), 1);
    }

    #[test]
    fn shots_too_far_apart_or_without_exif_times_are_not_a_burst() {
        let far = [row(1, "a", 1, Some(0)), row(2, "b", 1, Some(60))];
        assert!(!is_burst(&far.iter().collect::<Vec<_>>(), 5));
        let undated = [row(1, "a", 1, Some(0)), row(2, "b", 1, None)];
        assert!(!is_burst(&undated.iter().collect::<Vec<_>>(), 5));
        let chain = [row(1, "a", 1, Some(0)), row(2, "b", 1, Some(4)), row(3, "c", 1, Some(8))];
        assert!(is_burst(&chain.iter().collect::<Vec<_>>(), 5), "each shot within 5 s of the previous");
    }

    #[test]
    fn blocks_find_the_near_copies_of_a_library_too_large_for_the_exact_search() {
        let (dim, n, planted) = (64, EXACT_UP_TO + 1_000, 100);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2001) as f32 / 1000.0 - 1.0
        };
        let normalised = |v: Vec<f32>| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
        };
        let mut vectors: HashMap<i64, Vec<f32>> = (0..n as i64).map(|id| (id, normalised((0..dim).map(|_| random()).collect()))).collect();
        // Every 60th image gets a near copy (cosine about 0.99).
        for k in 0..planted {
            let original = &vectors[&(k as i64 * 60)];
            let copy = normalised(original.iter().map(|x| x + 0.02 * random()).collect());
            vectors.insert((n + k) as i64, copy);
        }
        let rows = (0..(n + planted) as i64).map(|id| row(id, &format!("h{id}"), 1, None)).collect();
        let pairs = NearPairs::find(rows, dim, |id| Ok(vectors.get(&id).cloned())).unwrap();
        let found: std::collections::BTreeSet<(i64, i64)> = pairs.groups(DEFAULT_THRESHOLD, 5).iter().map(|g| (g.members[0].id.min(g.members[1].id), g.members[0].id.max(g.members[1].id))).collect();
        let expected: std::collections::BTreeSet<(i64, i64)> = (0..planted).map(|k| (k as i64 * 60, (n + k) as i64)).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn groups_grow_through_chains() {
        let rows = (1..=4).map(|i| row(i, &format!("h{i}"), 1, None)).collect();
        // Neighbours 0.1 rad apart: 1-2, 2-3, 3-4 above 0.99; 1-4 below.
        let vectors = (1..=4).map(|i| (i, unit(0.1 * i as f32, 0))).collect();
        let groups = pairs_of(rows, vectors).groups(0.99, 5);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members.len(), 4);
    }
}
