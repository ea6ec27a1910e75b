//! Many image files to embeddings: each file is read once, hashed and (when its content needs
//! the encoder) decoded and preprocessed on worker threads while the vision encoder works on the
//! previous batch, so the encoder does not wait for JPEG decoding.
//!
//! A video goes through the same threads: its frames are sampled (by `ffmpeg`, see
//! [`crate::media::video`]) and preprocessed on a decode thread, then embedded in batches between the
//! images' batches, and the file comes out whole, with every kept frame's embedding.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
};

use image::DynamicImage;

use crate::{clip::{
    preprocess::{image_error, Prepared, Source},
    Clip,
}};
use crate::{
    catalog::VideoSpan,
    media::motion_photo,
    media::photo_meta::{self, PhotoMeta},
    media::video::{self, SamplingOptions},
    support::digest::content_hash,
    Result,
};

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Images per encoder run.
    pub batch: usize,
    /// Decode threads (0: one per core).
    pub decoders: usize,
    /// Files larger than this are refused before they are read (every read file is held in
    /// memory whole while it is decoded). Videos are streamed through `ffmpeg`, not read whole.
    pub max_file_bytes: u64,
    /// Which frames of a video are embedded.
    pub video: SamplingOptions,
}

/// The default file size limit: far above any camera JPEG, below what would exhaust memory.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions { batch: 8, decoders: 0, max_file_bytes: MAX_FILE_BYTES, video: SamplingOptions::default() }
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
    /// `None` when the triage said the content needs no encoder run. A video's is its first
    /// kept frame's (and its size the video's).
    pub embedded: Option<Embedded>,
    /// A video's length and the embeddings of its kept frames after the first; or a motion
    /// photo's clip's length and kept frames.
    pub video: Option<VideoRead>,
}

/// What a video, or the clip inside a motion photo, adds to [`Read`].
#[derive(Debug)]
pub struct VideoRead {
    /// Length in milliseconds.
    pub duration_ms: i64,
    /// The moment of the first kept frame (the one [`Read::embedded`] holds), in milliseconds;
    /// None for a motion photo, whose embedding is its still's.
    pub first_ms: Option<i64>,
    /// The other kept frames (a motion photo's: all of them): moment in milliseconds and
    /// L2-normalised embedding, in time order.
    pub frames: Vec<(i64, Vec<f32>)>,
}

impl VideoRead {
    /// A video's span in the catalog (None for a motion photo's clip).
    pub fn span(&self) -> Option<VideoSpan> {
        Some(VideoSpan { duration_ms: self.duration_ms, frame_ms: self.first_ms? })
    }

    /// A motion photo's clip length (None for a video).
    pub fn motion_ms(&self) -> Option<i64> {
        self.first_ms.is_none().then_some(self.duration_ms)
    }
}

/// What the pipeline asks its caller, on the decode threads.
pub trait Triage: Sync {
    /// Whether file `i`, whose content hashes to `hash`, needs the encoder.
    fn needs_embedding(&self, _i: usize, _hash: &str) -> bool {
        true
    }

    /// File `i` was decoded (the indexer writes thumbnails here, while the image is in memory).
    fn decoded(&self, _i: usize, _hash: &str, _image: &DynamicImage) {}

    /// A kept frame of video `i` at `ms` milliseconds was decoded.
    fn decoded_frame(&self, _i: usize, _hash: &str, _ms: i64, _image: &DynamicImage) {}
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
            let (tx, next, options) = (tx.clone(), &next, &options);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                if tx.send((i, read_one(clip, path, i, triage, options))).is_err() {
                    break; // the encoder stopped
                }
            });
        }
        drop(tx);
        let mut pending = Batch::default();
        for (i, outcome) in rx {
            match outcome {
                Ok(Item { hash, meta, prepared: Some(prepared), frames: None }) => {
                    pending.push(i, hash, meta, prepared);
                    if pending.ids.len() == batch {
                        pending.encode(clip, &mut sink)?;
                    }
                }
                Ok(Item { hash, meta, prepared: Some(first), frames: Some(frames) }) => {
                    sink(i, Ok(encode_video(clip, batch, hash, meta, first, frames)?));
                }
                Ok(Item { hash, meta, prepared: None, .. }) => sink(i, Ok(Read { hash, meta, embedded: None, video: None })),
                Err(e) => sink(i, Err(e)),
            }
        }
        pending.encode(clip, &mut sink)
    })
}

/// A file read and, when needed, prepared for the encoder (a video: its first kept frame, and
/// the others).
struct Item {
    hash: String,
    meta: PhotoMeta,
    prepared: Option<Prepared>,
    frames: Option<SampledVideo>,
}

/// A video's kept frames after the first, prepared; or all of a motion photo's clip's
/// (`first_ms` None: the item's first image is its still).
struct SampledVideo {
    duration_ms: i64,
    first_ms: Option<i64>,
    rest: Vec<(i64, Prepared)>,
}

fn read_one(clip: &Clip, path: &Path, i: usize, triage: &dyn Triage, options: &PipelineOptions) -> Result<Item> {
    if video::is_video_path(path) {
        return read_video(clip, path, i, triage, &options.video);
    }
    let bytes = read_limited(path, options.max_file_bytes).map_err(|reason| image_error(path, reason))?;
    let hash = content_hash(&bytes);
    let meta = photo_meta::read(&bytes);
    if !triage.needs_embedding(i, &hash) {
        return Ok(Item { hash, meta, prepared: None, frames: None });
    }
    let prepared = clip
        .preprocess()
        .prepare_bytes_with(&bytes, |image| triage.decoded(i, &hash, image))
        .map_err(|reason| image_error(path, reason))?;
    let frames = motion_photo::clip_range(&bytes).and_then(|clip_bytes| {
        let sampled = sample_motion(clip, &bytes[clip_bytes], i, &hash, triage, &options.video);
        sampled.map_err(|reason| tracing::warn!("{}: its motion photo clip is not indexed: {reason}", path.display())).ok()
    });
    Ok(Item { hash, meta, prepared: Some(prepared), frames })
}

/// The kept frames of a motion photo's clip (`clip_bytes`, an MP4), sampled from a private
/// copy as a video file is.
fn sample_motion(clip: &Clip, clip_bytes: &[u8], i: usize, hash: &str, triage: &dyn Triage, options: &SamplingOptions) -> std::result::Result<SampledVideo, String> {
    let mut copy = tempfile::Builder::new().prefix("clipfind-motion-").suffix(".mp4").tempfile().map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut copy, clip_bytes).map_err(|e| e.to_string())?;
    let (info, frames) = video::sample(copy.path(), options).map_err(|e| e.reason())?;
    let rest = prepare_frames(clip, frames, &info, (i, hash), triage, false)?;
    Ok(SampledVideo { duration_ms: info.duration.as_millis() as i64, first_ms: None, rest })
}

/// Kept frames at their moments, each shown to `triage` (its frame thumbnail) and prepared;
/// with `own_thumbnail`, the first is file `i`'s own thumbnail too (a video's, not a still's).
fn prepare_frames(
    clip: &Clip,
    frames: Vec<video::Frame>,
    info: &video::VideoInfo,
    (i, hash): (usize, &str),
    triage: &dyn Triage,
    own_thumbnail: bool,
) -> std::result::Result<Vec<(i64, Prepared)>, String> {
    let mut prepared = Vec::with_capacity(frames.len());
    for frame in frames {
        let ms = frame.time.as_millis() as i64;
        let image = DynamicImage::ImageRgb8(frame.image);
        if own_thumbnail && prepared.is_empty() {
            triage.decoded(i, hash, &image);
        }
        triage.decoded_frame(i, hash, ms, &image);
        let pixels = clip.preprocess().prepare(image, Source::Direct)?;
        prepared.push((ms, Prepared { pixels, width: info.width, height: info.height }));
    }
    Ok(prepared)
}

/// A video: hashed from samples of its bytes (never read whole), and, when its content needs
/// the encoder, its kept frames decoded by `ffmpeg` and prepared.
fn read_video(clip: &Clip, path: &Path, i: usize, triage: &dyn Triage, options: &SamplingOptions) -> Result<Item> {
    let hash = video::sampled_content_hash(path).map_err(|e| image_error(path, e.to_string()))?;
    // Capture times of videos come from the file's time (the indexer fills it in).
    let meta = PhotoMeta::default();
    if !triage.needs_embedding(i, &hash) {
        return Ok(Item { hash, meta, prepared: None, frames: None });
    }
    let (info, frames) = video::sample(path, options).map_err(|e| image_error(path, e.reason()))?;
    let prepared = prepare_frames(clip, frames, &info, (i, &hash), triage, true).map_err(|reason| image_error(path, reason))?;
    let mut kept = prepared.into_iter();
    let Some((first_ms, first)) = kept.next() else {
        return Err(image_error(path, "no frame of the video could be decoded".into()));
    };
    let sampled = SampledVideo { duration_ms: info.duration.as_millis() as i64, first_ms: Some(first_ms), rest: kept.collect() };
    Ok(Item { hash, meta, prepared: Some(first), frames: Some(sampled) })
}

/// Embeds a video's kept frames (a motion photo's still and its clip's frames), `batch` at a time.
fn encode_video(clip: &Clip, batch: usize, hash: String, meta: PhotoMeta, first: Prepared, video: SampledVideo) -> Result<Read> {
    let (width, height) = (first.width, first.height);
    let (moments, images): (Vec<Option<i64>>, Vec<Prepared>) =
        std::iter::once((video.first_ms, first)).chain(video.rest.into_iter().map(|(ms, p)| (Some(ms), p))).unzip();
    let mut embeddings = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch) {
        embeddings.extend(clip.embed_prepared(chunk)?);
    }
    let mut frames = moments.into_iter().zip(embeddings);
    let (first_ms, embedding) = frames.next().expect("a sampled video has a first frame");
    let frames = frames.map(|(ms, v)| (ms.expect("frames after the first have a moment"), v)).collect();
    Ok(Read {
        hash,
        meta,
        embedded: Some(Embedded { embedding, width, height }),
        video: Some(VideoRead { duration_ms: video.duration_ms, first_ms, frames }),
    })
}

/// The whole file, unless it is larger than `max_bytes` (checked as it is read, so a file that
/// grows meanwhile is refused too).
fn read_limited(path: &Path, max_bytes: u64) -> std::result::Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    read_within(&file, max_bytes)
}

/// The rest of `file`, unless it (its size now, or what is read) is larger than `max_bytes`.
pub(crate) fn read_within(mut file: &std::fs::File, max_bytes: u64) -> std::result::Result<Vec<u8>, String> {
    let too_large = || format!("the file is larger than the {} MB limit", max_bytes >> 20);
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if size > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, max_bytes + 1), &mut bytes).map_err(|e| e.to_string())?;
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
            sink(i, Ok(Read { hash, meta, embedded: Some(Embedded { embedding, width: image.width, height: image.height }), video: None }));
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
