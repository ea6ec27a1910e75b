//! Bringing a Milvus collection up to date with the catalog, which stays the source of truth.
//!
//! Every row the collection should hold has a signature: a hash of its searchable fields and of
//! where its vector is stored (the vector file and slot, which change whenever the vector does:
//! the file is append-only and a compaction writes a new one). The catalog remembers the
//! signatures the collection was last confirmed to hold (`remote_rows`), so a sync sends only the
//! rows whose signature differs and deletes the ids the catalog no longer has.
//!
//! Crash safety is a marker recorded in both places. A sync clears the catalog's marker before it
//! writes anything and, once Milvus has applied every write, records a new marker in the
//! collection and then in the catalog. On the next run, markers that differ (a run killed
//! mid-sync, Milvus stopped mid-run, another collection, a collection changed behind clipfind's
//! back) mean the catalog's record cannot be trusted: the collection's rows are listed and the
//! record rebuilt from them before the sync. Every write is idempotent (upsert and delete by id),
//! so a sync repeated after any interruption converges.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
};

use xxhash_rust::xxh3::Xxh3;

use super::remote::{RemoteRow, Remote, MAX_LIMIT, MAX_PATH, NO_TIME};
use crate::{catalog::{Catalog, VectorRow, FRAME_IDS}, store::snapshot::Committed, Result};

use crate::store::choice::REMOTE_MARKER_KEY as MARKER_KEY;

/// Rows per upload request (512-d vectors: 2 MB).
const UPLOAD_BATCH: usize = 1000;
/// Ids per delete request.
const DELETE_BATCH: usize = 5000;
/// Ids per listing window (within Milvus' query limit).
const LIST_WINDOW: i64 = 16_000;

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Rows written (new, moved, re-embedded or with changed fields).
    pub uploaded: usize,
    /// Rows deleted.
    pub deleted: usize,
    /// Whether the collection's rows were listed first (the markers differed).
    pub verified: bool,
    /// Rows the collection holds afterwards.
    pub rows: u64,
}

/// Brings `remote` up to date with `catalog` (whose vectors are in `index_dir`), as the module
/// describes. `progress` is told how many rows were sent so far, and of how many.
pub fn sync(catalog: &mut Catalog, index_dir: &Path, dim: usize, remote: &Remote, progress: &dyn Fn(usize, usize)) -> Result<SyncReport> {
    let mut report = SyncReport::default();
    let remote_marker = remote.marker()?;
    let known = match remote_marker.is_some() && remote_marker == catalog.meta(MARKER_KEY)? {
        true => catalog.remote_rows()?,
        false => {
            report.verified = true;
            let listed = list(catalog, remote)?;
            let pairs: Vec<(i64, i64)> = listed.iter().map(|(id, sig)| (*id, *sig)).collect();
            catalog.write(|w| {
                w.delete_meta(MARKER_KEY)?;
                w.clear_remote_rows()?;
                w.set_remote_rows(&pairs)
            })?;
            listed
        }
    };
    let committed = Committed::read(catalog)?;
    let vector_file = committed.vector_file.clone().unwrap_or_default();
    let rows: Vec<(RemoteRow, u64)> = catalog.vector_rows()?.into_iter().map(|r| (remote_row(&r, &vector_file), r.slot)).collect();
    let send: Vec<&(RemoteRow, u64)> = rows.iter().filter(|(row, _)| known.get(&row.id) != Some(&row.sig)).collect();
    let wanted: HashSet<i64> = rows.iter().map(|(row, _)| row.id).collect();
    let mut delete: Vec<i64> = known.keys().copied().filter(|id| !wanted.contains(id)).collect();
    delete.sort_unstable();
    if send.is_empty() && delete.is_empty() && !report.verified {
        report.rows = rows.len() as u64;
        return Ok(report);
    }

    // Under way: until it completes, the catalog's marker matches no collection's.
    catalog.write(|w| w.delete_meta(MARKER_KEY))?;
    let mapped = committed.map(index_dir, dim)?;
    for (done, batch) in send.chunks(UPLOAD_BATCH).enumerate() {
        let mut vectors = Vec::with_capacity(batch.len() * dim);
        for (row, slot) in batch {
            vectors.extend_from_slice(mapped.vector(*slot, row.id)?);
        }
        let batch_rows: Vec<RemoteRow> = batch.iter().map(|(row, _)| row.clone()).collect();
        remote.upsert(&batch_rows, vectors, dim)?;
        crate::support::killpoint::reached("milvus-uploaded");
        progress((done * UPLOAD_BATCH + batch.len()).min(send.len()), send.len());
    }
    for batch in delete.chunks(DELETE_BATCH) {
        remote.delete(batch)?;
    }
    mapped.release();
    report.rows = remote.flush()?;
    if report.rows != rows.len() as u64 {
        return Err(crate::EngineError::Store(format!(
            "after the upload the Milvus collection {} holds {} rows, the catalog {}: the next `clipfind index` checks every row",
            remote.url().collection,
            report.rows,
            rows.len()
        )));
    }
    crate::support::killpoint::reached("milvus-flushed");
    let marker = format!("{}-{}", catalog.generation()?, std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    remote.set_marker(&marker)?;
    let sent: Vec<(i64, i64)> = send.iter().map(|(row, _)| (row.id, row.sig)).collect();
    catalog.write(|w| {
        w.forget_remote_rows(&delete)?;
        w.set_remote_rows(&sent)?;
        w.set_meta(MARKER_KEY, &marker)
    })?;
    (report.uploaded, report.deleted) = (send.len(), delete.len());
    Ok(report)
}

/// Every (id, signature) the collection holds, window by window over the ids the catalog has
/// given out, then whatever lies beyond them (rows of an earlier catalog, to be deleted).
fn list(catalog: &Catalog, remote: &Remote) -> Result<HashMap<i64, i64>> {
    let (images, frames) = catalog.highest_ids()?;
    let mut found = HashMap::new();
    // (start, end, whether ids there are dense): the catalog's ranges are read window by
    // window; the others should be empty, and are read in answers of up to MAX_LIMIT rows.
    let ranges = [(NO_TIME, 1, false), (1, images + 1, true), (images + 1, FRAME_IDS, false), (FRAME_IDS, frames + 1, true), (frames + 1, i64::MAX, false)];
    for (start, end, dense) in ranges {
        let mut lo = start;
        while lo < end {
            let hi = if dense { (lo + LIST_WINDOW).min(end) } else { end };
            let rows = remote.rows_between(lo, hi)?;
            let full = rows.len() >= MAX_LIMIT;
            let last = rows.iter().map(|r| r.0).max();
            found.extend(rows);
            // A sparse range with more rows than one answer holds: go on after the last seen.
            lo = match (full, last) {
                (true, Some(last)) if !dense => last + 1,
                _ => hi,
            };
        }
    }
    Ok(found)
}

/// The row Milvus holds for a vector: the fields filters read, and its signature.
pub fn remote_row(row: &VectorRow, vector_file: &str) -> RemoteRow {
    let ext = row.path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).filter(|e| !e.contains('/')).unwrap_or_default();
    let kind = i64::from(crate::ingest::scan::is_video_name(&row.path));
    let orient = match row.width.cmp(&row.height) {
        std::cmp::Ordering::Greater => 0,
        std::cmp::Ordering::Less => 1,
        std::cmp::Ordering::Equal => 2,
    };
    let mut path = row.path.clone();
    if path.len() > MAX_PATH {
        let cut = (0..=MAX_PATH).rev().find(|i| path.is_char_boundary(*i)).unwrap_or(0);
        path.truncate(cut);
    }
    let mut remote = RemoteRow { id: row.id, path, ext, taken: row.taken.unwrap_or(NO_TIME), kind, orient, located: row.located, sig: 0 };
    remote.sig = signature(&remote, vector_file, row.slot);
    remote
}

fn signature(row: &RemoteRow, vector_file: &str, slot: u64) -> i64 {
    let mut h = Xxh3::new();
    for text in [row.path.as_str(), row.ext.as_str(), vector_file] {
        h.update(&(text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    for n in [row.taken, row.kind, row.orient, i64::from(row.located), slot as i64] {
        h.update(&n.to_le_bytes());
    }
    h.digest() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str, slot: u64) -> VectorRow {
        VectorRow { id: 7, slot, path: path.into(), taken: Some(1_700_000_000), width: 30, height: 20, located: false }
    }

    #[test]
    fn a_row_carries_what_filters_read() {
        let r = remote_row(&row("trips/Beach.JPG", 3), "vectors-1.bin");
        assert_eq!((r.ext.as_str(), r.kind, r.orient, r.taken), ("jpg", 0, 0, 1_700_000_000));
        let v = remote_row(&VectorRow { taken: None, width: 9, height: 16, ..row("clips/a.MOV", 3) }, "vectors-1.bin");
        assert_eq!((v.ext.as_str(), v.kind, v.orient, v.taken), ("mov", 1, 1, NO_TIME));
        assert_eq!(remote_row(&row("dir.d/noext", 3), "v").ext, "");
        let long = remote_row(&row(&"é".repeat(3000), 3), "v");
        assert!(long.path.len() <= MAX_PATH);
    }

    #[test]
    fn the_signature_changes_with_the_fields_and_the_stored_vector_only() {
        let base = remote_row(&row("a/b.jpg", 3), "vectors-1.bin");
        assert_eq!(base.sig, remote_row(&row("a/b.jpg", 3), "vectors-1.bin").sig);
        for other in [
            remote_row(&row("a/c.jpg", 3), "vectors-1.bin"),
            remote_row(&row("a/b.jpg", 4), "vectors-1.bin"),
            remote_row(&row("a/b.jpg", 3), "vectors-2.bin"),
            remote_row(&VectorRow { located: true, ..row("a/b.jpg", 3) }, "vectors-1.bin"),
            remote_row(&VectorRow { taken: Some(1), ..row("a/b.jpg", 3) }, "vectors-1.bin"),
        ] {
            assert_ne!(base.sig, other.sig, "{other:?}");
        }
    }
}
