//! One run, stage by stage: open the index and its vector store, scan, plan, embed and commit,
//! finish, tidy the thumbnails, maintain the vector index, read the words in images and record
//! the scan.

use std::{collections::HashMap, time::Instant};

use super::embed::read_and_embed;
use super::file_meta::fill_missing_photo_meta;
use super::finish::finish;
use super::full_scan::{needs_full_scan, record_scan};
use super::open::{open_catalog, open_vectors};
use super::options::IndexOptions;
use super::plan::plan;
use super::remote::{open_remote_store, sync_remote_store};
use super::sorter::Sorter;
use super::summary::Summary;
use super::words::read_words;
use super::thumbnails::{thumbnails_as_left, tidy_thumbnails, THUMBNAILS_CHECKED};
use crate::{
    clip::Clip,
    ingest::run_status::{Skipped, StatusFile},
    ingest::scan::{self, ScanOptions},
    ingest::thumbs,
    store::snapshot,
    Result,
};

/// Indexes the folders `options.data` with `clip` into `options.index_dir`.
pub fn run(clip: &Clip, options: &IndexOptions) -> Result<Summary> {
    let started = Instant::now();
    // Held to the end of the run: one writer per index.
    let (_lock, mut catalog, roots, factory) = open_catalog(clip, options)?;
    // Checked before any embedding: a Milvus that is down or holds another model fails now.
    let remote = open_remote_store(&mut catalog, clip, options)?;
    // Published while the run lasts, for a server to show.
    let status = StatusFile::start(&options.index_dir);
    let thumbnails_checked = thumbnails_as_left(&catalog, &options.index_dir)?;
    if !thumbnails_checked {
        let cleaned = thumbs::clean_temporary(&options.index_dir);
        if cleaned > 0 {
            tracing::info!("removed {cleaned} temporary thumbnail files an interrupted run left behind");
        }
    }
    let mut vectors = open_vectors(&catalog, &options.index_dir, clip.dim())?;
    tracing::debug!("catalog open at {:.2} s", started.elapsed().as_secs_f64());
    let full_scan = needs_full_scan(&catalog, options)?;
    let unchanged_since = if full_scan { HashMap::new() } else { catalog.folders()? };
    let scan = scan::scan_roots(&roots, &ScanOptions { exclude: options.exclude.clone(), skip_dir: Some(options.index_dir.clone()), unchanged_since })?;
    tracing::debug!("scanned {} files in {:.2} s (full: {full_scan})", scan.files.len(), started.elapsed().as_secs_f64());
    // Before any file is read: a server serves files outside the folders only under these.
    crate::ingest::original::record_links(&mut catalog, &scan.links)?;
    let mut plan = plan(&catalog, &roots, &catalog.skipped()?, scan.files)?;
    let unsettled = plan.leave_unsettled(options.settle);
    let videos_waiting = plan.leave_videos_without_ffmpeg();
    tracing::debug!("compared with the catalog at {:.2} s: {} to read", started.elapsed().as_secs_f64(), plan.candidates.len());
    let mut summary = Summary {
        unsettled,
        videos_waiting,
        unchanged: plan.unchanged,
        skipped: plan.known_skipped.clone(),
        scan_problems: scan.problems.iter().map(|(p, r)| Skipped { path: p.clone(), reason: r.clone() }).collect(),
        ..Summary::default()
    };

    let embed_started = Instant::now();
    let mut sorter = Sorter::new(&plan, options)?;
    status.phase("embedding", plan.candidates.len() as u64);
    read_and_embed(clip, &mut catalog, &mut vectors, &roots, &plan, &sorter, options, &status, &mut summary)?;
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    let text_seen = std::mem::take(&mut sorter.text_seen);
    let outcome = finish(&mut catalog, &mut vectors, &plan, sorter, &mut summary)?;
    fill_missing_photo_meta(&mut catalog, &roots)?;
    match options.thumbnails {
        true => tidy_thumbnails(&catalog, &roots, options, thumbnails_checked, &outcome, &mut summary)?,
        // Images indexed now have no thumbnail: the next run with thumbnails checks them all.
        false => catalog.set_meta(THUMBNAILS_CHECKED, "")?,
    }

    crate::catalog::compaction::compact_if_wasteful(&mut catalog, &options.index_dir, clip.dim())?;
    tracing::debug!("committed at {:.2} s", started.elapsed().as_secs_f64());
    status.phase("indexing vectors", 0);
    summary.vector_index = match &remote {
        Some(remote) => sync_remote_store(&mut catalog, remote, clip, options, &status, &mut summary)?,
        None => snapshot::maintain(&mut catalog, &options.index_dir, clip.dim(), &factory, &options.policy)?,
    };
    summary.vectors_written = summary.vector_index.written;
    crate::catalog::compaction::remove_unused(&catalog, &options.index_dir)?;
    // Last: the library is searchable by its pictures while its words are read.
    read_words(&mut catalog, &roots, options, &text_seen, &status, &mut summary)?;
    // With files left for later, the folder times must not say their folders were seen whole.
    if unsettled == 0 {
        record_scan(&mut catalog, options, &scan.folders, full_scan)?;
    }
    summary.total = catalog.count()?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.images_per_second = if summary.embedded > 0 { summary.embedded as f64 / embed_seconds } else { 0.0 };
    Ok(summary)
}
