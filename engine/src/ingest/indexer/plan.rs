//! Planning what changed: the scan merged with the catalog by path, from sizes and mtimes alone,
//! into files to read, files unchanged or known to fail, and rows whose path is gone.

use std::collections::HashMap;

use super::clock::now_nanos;
use crate::{
    catalog::{Catalog, ImageRow, SkippedRow},
    ingest::roots::Roots,
    ingest::run_status::Skipped,
    ingest::scan::{self, FoundFile},
    Result,
};

/// What the scan found compared with the catalog, decided from paths, sizes and mtimes alone.
pub(super) struct Plan {
    pub(super) unchanged: usize,
    /// Files that failed before and have not changed since: reported, not read again.
    pub(super) known_skipped: Vec<Skipped>,
    /// Files to read: new paths, and paths whose size or mtime changed (with their row).
    pub(super) candidates: Vec<(FoundFile, Option<ImageRow>)>,
    /// Rows whose path the scan did not find: renamed (when their content turns up under a new
    /// path) or removed.
    pub(super) gone: Vec<ImageRow>,
}

/// Merges the scan (sorted by path) with the catalog's rows streamed in the same order: only
/// the rows that differ are kept.
pub(super) fn plan(catalog: &Catalog, roots: &Roots, skipped: &HashMap<String, SkippedRow>, found: Vec<FoundFile>) -> Result<Plan> {
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
    /// Takes out the candidates modified less than `settle` ago; returns how many. A fresh path
    /// with the size and mtime of a row whose path is gone stays: a move keeps both (a folder
    /// renamed right after a copy, say), and its content was complete when that row was read,
    /// so it is read now and found to be the moved photo, keeping its id.
    pub(super) fn leave_unsettled(&mut self, settle: std::time::Duration) -> usize {
        if settle.is_zero() {
            return 0;
        }
        let newest_settled = now_nanos() - settle.as_nanos() as i64;
        let moved_away: std::collections::HashSet<(u64, i64)> = self.gone.iter().map(|row| (row.size, row.mtime_ns)).collect();
        let before = self.candidates.len();
        self.candidates.retain(|(file, _)| file.mtime_ns <= newest_settled || moved_away.contains(&(file.size, file.mtime_ns)));
        before - self.candidates.len()
    }

    /// Without a working `ffmpeg`, takes the videos out of the candidates (not recorded as
    /// broken: they are read once `ffmpeg` is there); returns how many, and why.
    pub(super) fn leave_videos_without_ffmpeg(&mut self) -> Option<(usize, String)> {
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
