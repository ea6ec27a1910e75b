//! The end of the pipeline: duplicates of content embedded later in the run are stored (or
//! skipped, with why), and rows whose path is gone and whose content turned up nowhere removed.

use std::collections::HashMap;

use super::clock::now_secs;
use super::embed::add_duplicate;
use super::file_meta::with_file_time;
use super::plan::Plan;
use super::sorter::{Decision, Sorter};
use super::summary::{Counted, Summary};
use crate::{catalog::vector_file::VectorAppender, catalog::Catalog, ingest::run_status::Skipped, Result};

/// After the pipeline: duplicates of content embedded later in the run, and rows whose path is
/// gone and whose content turned up nowhere (removed).
/// What the end of a run leaves for the thumbnail tidy.
pub(super) struct Finished {
    /// Content hashes of removed images and of edited images' old content.
    pub(super) old_hashes: Vec<String>,
    /// Thumbnails the run could not write.
    pub(super) thumbnail_failures: usize,
}

pub(super) fn finish(catalog: &mut Catalog, vectors: &mut VectorAppender, plan: &Plan, sorter: Sorter<'_>, summary: &mut Summary) -> Result<Finished> {
    let thumbnail_failures = sorter.thumbnail_failures.into_inner();
    let state = sorter.state.into_inner().unwrap_or_else(|p| p.into_inner());
    let failed: HashMap<&str, &Skipped> = summary.skipped.iter().map(|s| (s.path.as_str(), s)).collect();
    let broken: HashMap<&str, String> = (state.decisions.iter().enumerate())
        .filter_map(|(i, d)| d.as_ref().filter(|(d, _)| matches!(d, Decision::Embed { .. })).map(|(_, hash)| (i, hash)))
        .filter_map(|(i, hash)| failed.get(plan.candidates[i].0.rel.as_str()).map(|s| (hash.as_str(), format!("same content as {}: {}", s.path, s.reason))))
        .collect();
    let removed: Vec<i64> = state.gone.values().flatten().copied().collect();
    let mut deferred = state.deferred.clone();
    deferred.sort_unstable_by_key(|(i, _)| *i);
    let now = now_secs();
    let outcomes = catalog.write_vectors(vectors, |w, vectors| {
        let mut outcomes = Vec::new();
        for (i, meta) in &deferred {
            let file = &plan.candidates[*i].0;
            let hash = state.decisions[*i].as_ref().expect("deferred files were decided").1.as_str();
            let meta = with_file_time(meta, file.mtime_ns);
            outcomes.push((*i, match add_duplicate(w, vectors, file, hash, &meta, now)? {
                true => Counted::Duplicate,
                false => {
                    let reason = broken.get(hash).cloned().unwrap_or_else(|| "its content could not be indexed".into());
                    w.skip(&file.rel, file.size, file.mtime_ns, &reason)?;
                    Counted::Skipped(reason)
                }
            }));
        }
        for id in &removed {
            w.delete(*id)?;
        }
        if !removed.is_empty() || outcomes.iter().any(|(_, c)| c.changes_vectors()) {
            w.bump_generation()?;
        }
        Ok(outcomes)
    })?;
    for (i, counted) in outcomes {
        summary.count(&plan.candidates[i].0.rel, counted);
    }
    summary.removed += removed.len();
    let edited = (plan.candidates.iter().zip(&state.decisions))
        .filter(|(_, d)| matches!(d, Some((Decision::Embed { new: false }, _))))
        .filter_map(|((_, row), _)| row.as_ref());
    let removed_rows = plan.gone.iter().filter(|row| removed.contains(&row.id));
    Ok(Finished { old_hashes: edited.chain(removed_rows).map(|row| row.hash.clone()).collect(), thumbnail_failures })
}
