//! Embedding and committing: the candidates run through the pipeline, and every `checkpoint`
//! outcomes are written to the catalog and the vector file in one transaction.

use std::path::PathBuf;

use super::clock::now_secs;
use super::file_meta::with_file_time;
use super::options::IndexOptions;
use super::plan::Plan;
use super::sorter::{Decision, Sorter};
use super::summary::{Counted, Summary};
use crate::{
    catalog::vector_file::VectorAppender,
    catalog::{Catalog, NewImage, Writer},
    clip::Clip,
    ingest::pipeline::{self, PipelineOptions, Read},
    ingest::roots::Roots,
    ingest::run_status::StatusFile,
    ingest::scan::FoundFile,
    media::photo_meta::PhotoMeta,
    EngineError, Result,
};

/// Runs the candidates through the pipeline, committing every `checkpoint` outcomes.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_and_embed(
    clip: &Clip,
    catalog: &mut Catalog,
    vectors: &mut VectorAppender,
    roots: &Roots,
    plan: &Plan,
    sorter: &Sorter<'_>,
    options: &IndexOptions,
    status: &StatusFile,
    summary: &mut Summary,
) -> Result<()> {
    let paths: Vec<PathBuf> = plan.candidates.iter().map(|(f, _)| roots.file(&f.rel)).collect();
    options.progress.begin("embedding", Some(paths.len() as u64), 0);
    let mut pending: Vec<(usize, Result<Read>)> = Vec::new();
    let mut failure = None;
    let pipeline_options = PipelineOptions { batch: options.batch.max(1), decoders: 0, max_file_bytes: options.max_file_bytes, video: options.video.clone() };
    let piped = pipeline::embed_files_with(clip, &paths, pipeline_options, sorter, |i, outcome| {
        options.progress.advance(1);
        status.advance(&plan.candidates[i].0.rel, outcome.as_ref().err().map(skip_reason));
        pending.push((i, outcome));
        if pending.len() >= options.checkpoint.max(1) && failure.is_none() {
            failure = commit(catalog, vectors, plan, sorter, &mut pending, summary).err();
        }
    });
    options.progress.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    piped?;
    commit(catalog, vectors, plan, sorter, &mut pending, summary)
}

/// Writes what the pipeline produced for these files in one transaction.
fn commit(
    catalog: &mut Catalog,
    vectors: &mut VectorAppender,
    plan: &Plan,
    sorter: &Sorter<'_>,
    pending: &mut Vec<(usize, Result<Read>)>,
    summary: &mut Summary,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let now = now_secs();
    let done = std::mem::take(pending);
    let mut frames = 0;
    let mut dropped = 0;
    let counted = catalog.write_vectors(vectors, |w, vectors| {
        let mut counted = Vec::with_capacity(done.len());
        for (i, outcome) in &done {
            let (file, indexed) = &plan.candidates[*i];
            counted.push(match (outcome, sorter.decision(*i)) {
                (Err(e), _) => {
                    let reason = skip_reason(e);
                    w.skip(&file.rel, file.size, file.mtime_ns, &reason)?;
                    // A changed file that no longer decodes is not what its row and vector say.
                    if let Some(row) = indexed {
                        w.delete(row.id)?;
                        dropped += 1;
                    }
                    Counted::Skipped(reason)
                }
                (Ok(read), Some((decision, _))) => {
                    frames += read.video.as_ref().map_or(0, |v| v.frames.len() + usize::from(v.first_ms.is_some()));
                    apply(w, vectors, file, read, decision, now)?
                }
                (Ok(_), None) => unreachable!("the pipeline asks the sorter about every file it reads"),
            });
        }
        if dropped > 0 || counted.iter().any(Counted::changes_vectors) {
            w.bump_generation()?;
        }
        if counted.iter().any(Counted::is_indexed) {
            w.set_meta("last_indexed", &now.to_string())?;
        }
        Ok(counted)
    })?;
    summary.video_frames += frames;
    summary.removed += dropped;
    for ((i, outcome), counted) in done.into_iter().zip(counted) {
        if let (Counted::DuplicateLater, Ok(read)) = (&counted, outcome) {
            sorter.state().deferred.push((i, read.meta));
        }
        summary.count(&plan.candidates[i].0.rel, counted);
    }
    Ok(())
}

/// Records one read file in the catalog as its decision says.
fn apply(w: &Writer<'_>, vectors: &mut VectorAppender, file: &FoundFile, read: &Read, decision: Decision, now: i64) -> Result<Counted> {
    let meta = with_file_time(&read.meta, file.mtime_ns);
    Ok(match decision {
        Decision::Embed { new } => {
            let e = read.embedded.as_ref().expect("embedded files carry an embedding");
            let image = NewImage {
                path: &file.rel,
                size: file.size,
                mtime_ns: file.mtime_ns,
                hash: &read.hash,
                width: e.width,
                height: e.height,
                meta: &meta,
                video: read.video.as_ref().and_then(|v| v.span()),
                motion_ms: read.video.as_ref().and_then(|v| v.motion_ms()),
            };
            let id = w.upsert(&image, &e.embedding, vectors, now)?;
            if let Some(video) = &read.video {
                let frames: Vec<(i64, &[f32])> = video.frames.iter().map(|(ms, v)| (*ms, v.as_slice())).collect();
                w.add_frames(id, &frames, vectors)?;
            }
            w.unskip(&file.rel)?;
            if new { Counted::New } else { Counted::Changed }
        }
        Decision::Touch(id) => {
            w.touch(id, file.size, file.mtime_ns)?;
            w.set_photo_meta(id, &meta)?;
            Counted::Unchanged
        }
        Decision::Rename(id) => {
            w.move_image(id, &file.rel, file.size, file.mtime_ns)?;
            w.set_photo_meta(id, &meta)?;
            w.unskip(&file.rel)?;
            Counted::Renamed
        }
        Decision::Duplicate => match add_duplicate(w, vectors, file, &read.hash, &meta, now)? {
            true => Counted::Duplicate,
            false => Counted::DuplicateLater,
        },
    })
}

/// Stores a duplicate with the embeddings (a video's frames too) of the indexed file of the
/// same content; false when that content has no embedding (yet).
pub(super) fn add_duplicate(w: &Writer<'_>, vectors: &mut VectorAppender, file: &FoundFile, hash: &str, meta: &PhotoMeta, now: i64) -> Result<bool> {
    let Some(original) = w.image_of_hash(hash)? else { return Ok(false) };
    let embedding = vectors.read(original.slot, original.id)?;
    let (width, height, video, motion_ms) = (original.width, original.height, original.video, original.motion_ms);
    let image = NewImage { path: &file.rel, size: file.size, mtime_ns: file.mtime_ns, hash, width, height, meta, video, motion_ms };
    let id = w.upsert(&image, &embedding, vectors, now)?;
    let frames = (w.frames_of(original.id)?.into_iter())
        .map(|f| Ok((f.ms, vectors.read(f.slot, f.vector_id)?)))
        .collect::<Result<Vec<_>>>()?;
    if !frames.is_empty() {
        w.add_frames(id, &frames.iter().map(|(ms, v)| (*ms, v.as_slice())).collect::<Vec<_>>(), vectors)?;
    }
    w.unskip(&file.rel)?;
    Ok(true)
}

fn skip_reason(e: &EngineError) -> String {
    match e {
        EngineError::Image { reason, .. } => reason.clone(),
        other => other.chain(),
    }
}
