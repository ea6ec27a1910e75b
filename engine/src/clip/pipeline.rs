//! Many image files to embeddings: each file is read once, hashed and (when its content needs
//! the encoder) decoded and preprocessed on worker threads while the vision encoder works on the
//! previous batch, so the encoder does not wait for JPEG decoding.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
};

use image::DynamicImage;

use super::{
    preprocess::{image_error, Prepared},
    Clip,
};
use crate::{digest::content_hash, photo_meta::{self, PhotoMeta}, Result};

/// How the pipeline runs.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Images per encoder run.
    pub batch: usize,
    /// Decode threads (0: one per core).
    pub decoders: usize,
    /// Files larger than this are refused before they are read (every read file is held in
    /// memory whole while it is decoded).
    pub max_file_bytes: u64,
}

/// The default file size limit: far above any camera JPEG, below what would exhaust memory.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions { batch: 8, decoders: 0, max_file_bytes: MAX_FILE_BYTES }
    }
}

/// One image's embedding.
#[derive(Debug)]
pub struct Embedded {
    /// L2-normalised.
    pub embedding: Vec<f32>,
    /// Size of the upright image.
    pub width: u32,
    /// Size of the upright image.
    pub height: u32,
}

/// One file after its single read: its content hash, its metadata, and its embedding when it
/// needed one.
#[derive(Debug)]
pub struct Read {
    /// [`content_hash`] of the file's bytes.
    pub hash: String,
    /// What the file's EXIF says (capture time, camera, location), read from the same bytes.
    pub meta: PhotoMeta,
    /// `None` when the triage said the content needs no encoder run.
    pub embedded: Option<Embedded>,
}

/// What the pipeline asks its caller, on the decode threads.
pub trait Triage: Sync {
    /// Whether file `i`, whose content hashes to `hash`, needs the encoder.
    fn needs_embedding(&self, _i: usize, _hash: &str) -> bool {
        true
    }

    /// File `i` was decoded (the indexer writes thumbnails here, while the image is in memory).
    fn decoded(&self, _i: usize, _hash: &str, _image: &DynamicImage) {}
}

/// Embeds every file.
struct EmbedAll;

impl Triage for EmbedAll {}

/// Embeds `paths`, calling `sink(i, outcome)` once per path (in completion order). A file that
/// cannot be read or decoded gives its error to the sink and the run goes on; an encoder failure
/// stops the run and is returned.
pub fn embed_files(clip: &Clip, paths: &[PathBuf], options: PipelineOptions, mut sink: impl FnMut(usize, Result<Embedded>)) -> Result<()> {
    embed_files_with(clip, paths, options, &EmbedAll, |i, read| {
        sink(i, read.map(|r| r.embedded.expect("every file is embedded")));
    })
}

/// As [`embed_files`], reading each file once: its bytes are hashed, `triage` decides from the
/// hash whether to decode and embed it, and sees each decoded image.
pub fn embed_files_with(
    clip: &Clip,
    paths: &[PathBuf],
    options: PipelineOptions,
    triage: &dyn Triage,
    mut sink: impl FnMut(usize, Result<Read>),
) -> Result<()> {
    let batch = options.batch.max(1);
    let decoders = match options.decoders {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let next = AtomicUsize::new(0);
    // Bounded: decoders run at most two batches ahead, so memory stays flat on huge folders.
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<Item>)>(batch * 2);
    std::thread::scope(|scope| {
        for _ in 0..decoders.min(paths.len().max(1)) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                if tx.send((i, read_one(clip, path, i, triage, options.max_file_bytes))).is_err() {
                    break; // the encoder stopped
                }
            });
        }
        drop(tx);
        let mut pending = Batch::default();
        for (i, outcome) in rx {
            match outcome {
                Ok(Item { hash, meta, prepared: Some(prepared) }) => {
                    pending.push(i, hash, meta, prepared);
                    if pending.ids.len() == batch {
                        pending.encode(clip, &mut sink)?;
                    }
                }
                Ok(Item { hash, meta, prepared: None }) => sink(i, Ok(Read { hash, meta, embedded: None })),
                Err(e) => sink(i, Err(e)),
            }
        }
        pending.encode(clip, &mut sink)
    })
}

/// A file read and, when needed, prepared for the encoder.
struct Item {
    hash: String,
    meta: PhotoMeta,
    prepared: Option<Prepared>,
}

fn read_one(clip: &Clip, path: &Path, i: usize, triage: &dyn Triage, max_bytes: u64) -> Result<Item> {
    let bytes = read_limited(path, max_bytes).map_err(|reason| image_error(path, reason))?;
    let hash = content_hash(&bytes);
    let meta = photo_meta::read(&bytes);
    if !triage.needs_embedding(i, &hash) {
        return Ok(Item { hash, meta, prepared: None });
    }
    let prepared = clip
        .preprocess()
        .prepare_bytes_with(&bytes, |image| triage.decoded(i, &hash, image))
        .map_err(|reason| image_error(path, reason))?;
    Ok(Item { hash, meta, prepared: Some(prepared) })
}

/// The whole file, unless it is larger than `max_bytes` (checked as it is read, so a file that
/// grows meanwhile is refused too).
fn read_limited(path: &Path, max_bytes: u64) -> std::result::Result<Vec<u8>, String> {
    let too_large = || format!("the file is larger than the {} MB limit", max_bytes >> 20);
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if size > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max_bytes + 1), &mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Prepared images waiting for the encoder, with the indexes of their paths.
#[derive(Default)]
struct Batch {
    ids: Vec<usize>,
    read: Vec<(String, PhotoMeta)>,
    images: Vec<Prepared>,
}

impl Batch {
    fn push(&mut self, i: usize, hash: String, meta: PhotoMeta, image: Prepared) {
        self.ids.push(i);
        self.read.push((hash, meta));
        self.images.push(image);
    }

    fn encode(&mut self, clip: &Clip, sink: &mut impl FnMut(usize, Result<Read>)) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let embeddings = clip.embed_prepared(&self.images)?;
        let done = self.ids.drain(..).zip(self.read.drain(..)).zip(self.images.drain(..)).zip(embeddings);
        for (((i, (hash, meta)), image), embedding) in done {
            sink(i, Ok(Read { hash, meta, embedded: Some(Embedded { embedding, width: image.width, height: image.height }) }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_limit_are_refused_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let sparse = dir.path().join("huge.jpg");
        std::fs::File::create(&sparse).unwrap().set_len(3 << 30).unwrap();
        assert_eq!(read_limited(&sparse, 256 << 20).unwrap_err(), "the file is larger than the 256 MB limit");
        let small = dir.path().join("small.jpg");
        std::fs::write(&small, b"12345").unwrap();
        assert_eq!(read_limited(&small, 5).unwrap(), b"12345");
        assert!(read_limited(&small, 4).is_err());
    }
}
