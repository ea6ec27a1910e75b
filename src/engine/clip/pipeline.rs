//! Many image files to embeddings: decode and preprocess on worker threads while the vision
//! encoder works on the previous batch, so the encoder does not wait for JPEG decoding.

use std::{
    path::PathBuf,
    sync::{atomic::{AtomicUsize, Ordering}, mpsc},
};

use image::DynamicImage;

use super::{preprocess::Prepared, Clip};
use crate::engine::Result;

#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Images per encoder run.
    pub batch: usize,
    /// Decode threads (0: one per core).
    pub decoders: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions { batch: 8, decoders: 0 }
    }
}

/// One image's outcome.
#[derive(Debug)]
pub struct Embedded {
    pub embedding: Vec<f32>,
    pub width: u32,
    pub height: u32,
}

/// Embeds `paths`, calling `sink(i, outcome)` once per path (in completion order). A file that
/// cannot be read or decoded gives its error to the sink and the run goes on; an encoder failure
/// stops the run and is returned.
pub fn embed_files(clip: &Clip, paths: &[PathBuf], options: PipelineOptions, sink: impl FnMut(usize, Result<Embedded>)) -> Result<()> {
    embed_files_with(clip, paths, options, &|_, _| {}, sink)
}

/// As [`embed_files`], also handing each decoded image to `on_decoded` on its decode thread
/// (the indexer writes thumbnails there, while the image is in memory anyway).
pub fn embed_files_with(
    clip: &Clip,
    paths: &[PathBuf],
    options: PipelineOptions,
    on_decoded: &(dyn Fn(usize, &DynamicImage) + Sync),
    mut sink: impl FnMut(usize, Result<Embedded>),
) -> Result<()> {
    let batch = options.batch.max(1);
    let decoders = match options.decoders {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let next = AtomicUsize::new(0);
    // Bounded: decoders run at most two batches ahead, so memory stays flat on huge folders.
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<Prepared>)>(batch * 2);
    std::thread::scope(|scope| {
        for _ in 0..decoders.min(paths.len().max(1)) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let prepared = clip.preprocess().load_with(path, |image| on_decoded(i, image));
                if tx.send((i, prepared)).is_err() {
                    break; // the encoder stopped
                }
            });
        }
        drop(tx);
        let mut pending = Batch::default();
        for (i, outcome) in rx {
            match outcome {
                Ok(prepared) => {
                    pending.ids.push(i);
                    pending.images.push(prepared);
                    if pending.ids.len() == batch {
                        pending.encode(clip, &mut sink)?;
                    }
                }
                Err(e) => sink(i, Err(e)),
            }
        }
        pending.encode(clip, &mut sink)
    })
}

/// Prepared images waiting for the encoder, with the indexes of their paths.
#[derive(Default)]
struct Batch {
    ids: Vec<usize>,
    images: Vec<Prepared>,
}

impl Batch {
    fn encode(&mut self, clip: &Clip, sink: &mut impl FnMut(usize, Result<Embedded>)) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let embeddings = clip.embed_prepared(&self.images)?;
        for ((i, image), embedding) in self.ids.drain(..).zip(self.images.drain(..)).zip(embeddings) {
            sink(i, Ok(Embedded { embedding, width: image.width, height: image.height }));
        }
        Ok(())
    }
}
