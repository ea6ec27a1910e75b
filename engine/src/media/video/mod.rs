//! The frames of a video that a CLIP index embeds: a low-rate sample decoded by the `ffmpeg`
//! binary, thinned to the pictures that differ.
//!
//! # Process model
//!
//! Decoding runs in a separate `ffmpeg` process (spawned through `ffmpeg-sidecar`), which writes
//! raw RGB frames to a pipe. A decoder that crashes or hangs on a hostile file takes down only
//! that process, not the indexer, and nothing needs FFmpeg's `-dev` packages, bindgen or a
//! matching libav ABI at build time (as `ffmpeg-next` would). The cost is one process start per
//! video (a few milliseconds) and one copy of each sampled frame through the pipe (~350 KB at the
//! default size, a few per second of video), both negligible next to decoding.
//!
//! ffmpeg-sidecar builds the command line, finds the binary and parses its version; the frames are
//! read from `ffmpeg`'s stdout here, at a size this module chose (`scale=W:H`), rather than
//! through the crate's event iterator: that iterator learns the frame size by parsing `ffmpeg`'s
//! log and only starts reading stdout once it has, so a log it cannot parse would leave `ffmpeg`
//! blocked on a full stdout pipe and the caller waiting forever. Here stdout is read from the first
//! byte and stderr is drained by its own thread (keeping a bounded tail of it), so neither pipe
//! can fill up. A watchdog thread owns each process: it kills and reaps it past a wall-clock
//! limit, and on every early exit path (a guard's `Drop`).
//!
//! # What FFmpeg may open
//!
//! FFmpeg picks a demuxer by a file's content, not its name, and some demuxers open other files:
//! an HLS playlist named `clip.mp4` whose segment is a FIFO would block `ffprobe` forever, and
//! concat lists or image2 patterns would read whatever they name. So `ffprobe` and `ffmpeg` only
//! use the `file` protocol and the demuxers of real video containers (`CONTAINERS`); anything
//! else is [`VideoError::NotAVideo`]. Each run also has a wall-clock limit (a few seconds to
//! probe, a decode scaled to the video's duration, see `DECODE_TIME_MAX`); past it the process
//! is killed and the video is [`VideoError::TimedOut`].
//!
//! # Size limits
//!
//! A video gets the limits an image does ([`MAX_PIXELS`](crate::clip::preprocess::MAX_PIXELS), [`MIN_SIDE`](crate::clip::preprocess::MIN_SIDE) and [`MAX_ASPECT`](crate::clip::preprocess::MAX_ASPECT) of
//! the image path): a display size outside them is [`VideoError::Refused`] after probing, before
//! any frame is decoded, and `ffmpeg`'s decoder refuses pictures over [`MAX_PIXELS`](crate::clip::preprocess::MAX_PIXELS) even when
//! they appear mid-stream. The frames asked of `ffmpeg` have at most `MAX_FRAME_SIDE` pixels on
//! their long side, and a sample holds the process's decode budget
//! ([`crate::clip::budget`]) for the frames it keeps while decoding.
//!
//! The binary is `$CLIPFIND_FFMPEG` when set, else an `ffmpeg` next to the executable, else
//! `ffmpeg` on `PATH`; `ffprobe` is taken from the same folder.
//!
//! # Sampling rules
//!
//! 1. Decode a low-rate sample: `fps=sample_fps` (2/s by default), scaled so the shorter side is
//!    `short_side` pixels (display aspect kept: rotation and non-square pixels applied, both sides
//!    even), RGB, video only (`-an -sn -dn`), 2 decoder threads. Sample `n` is the picture shown at
//!    `n / sample_fps` seconds, so [`Frame::time`] is accurate to one sample period. The sample
//!    always holds at least one frame when the video has one (`eof_action=pass`), so a clip shorter
//!    than a sample period yields its first frame.
//! 2. Measure each sample against the last *kept* frame (not the previous sample, so a slow pan
//!    adds up until it counts): both are reduced to a 32x32 grid of mean RGB colours, and the
//!    difference is the fraction of cells (0..1) whose colour moved by more than 10% of full scale
//!    in any channel. It reads as "the share of the picture that changed", so thresholds mean the
//!    same for dark and bright, low and high contrast footage; the cell averaging ignores codec
//!    noise and grain. Colour rather than grayscale because cuts between scenes of equal
//!    brightness (red and green are ~0.3 and ~0.59 luma) are real cuts to CLIP. A plain mean
//!    absolute difference was not used: between 21 pairs of unrelated photos it ranged 0.17-0.49
//!    (9 pairs under 0.3), while the changed share ranged 0.83-1.0, far from any sane threshold.
//! 3. A sample is kept when it is the first; or it is a *scene change*: difference >=
//!    `scene_threshold` and at least `min_scene_gap` after the last scene change; or
//!    `max_interval` has passed since the last kept frame and it is not the same picture
//!    (difference >= `same_threshold`). A static video therefore keeps one frame however long it
//!    is. The first frame is not a scene change ([`Frame::scene_change`] is false for it).
//! 4. Cap at `max_frames` (see [`SamplingOptions::max_frames`]).
//!
//! # Key frames first
//!
//! Decoding is nearly all of the cost (comparing a sample takes ~0.1 ms, ~0.1% of decoding it),
//! and decoding only the key frames (`-skip_frame nokey`) is 12-24x faster on 1080p H.264. The rules run the same on a
//! key-frame pass, each key frame repeated on the sample grid until the next, but it can only see
//! a picture where the encoder put a key frame. So by default ([`Decode::Auto`]) key frames are
//! decoded first and that result is kept when the pass was clean and no stretch without a new
//! key frame (or from the last one to the end) is longer than 2 s, which is typical of phones,
//! cameras and streaming video (GOPs of 0.5-2 s); otherwise, as for x264's default GOP (up to
//! 250 frames: 8-10 s), every frame is decoded. The key-frame pass costs ~5% of a full decode when it is thrown away.
//! "A new key frame" is a sample whose bytes differ from the previous one, so a perfectly static
//! video counts as one long stretch and is fully decoded: extra work, never a wrong result.
//!
//! # Broken files
//!
//! Files `ffprobe` cannot open (empty, not a video, an MP4 cut before its index) are
//! [`VideoError::NotAVideo`]; a video that opens but decodes no frame is
//! [`VideoError::Unreadable`]. A truncated file that still decodes in part (an MP4 with its index
//! at the front, cut short) is [`VideoError::Truncated`], not a shorter sample: such a file is
//! usually still being copied or downloaded, and indexing half of it under the file's identity
//! would hide that; the caller sees the error, and its size/mtime change triggers a retry. A
//! video counts as truncated when `ffmpeg` reported errors (or failed) *and* the frames stop more
//! than a second (or a sample period) before the duration the container states. Damage in the
//! middle of a file that still decodes to its end is tolerated. A video whose display size an
//! image would be refused for is [`VideoError::Refused`]; one whose `ffprobe` or `ffmpeg` run
//! outlasts its limit is [`VideoError::TimedOut`].
//!
//! # Modules
//!
//! `types` holds the public values; `tools` the entry points, which run the binaries through
//! `process` (a supervised child), `probe` (reading `ffprobe`'s output) and `decode` (one
//! `ffmpeg` run), under the bounds of `input` and `limits`, and keep frames by `select`.
//! `reason` turns FFmpeg's log into an error's reason, `error` is the error, and `hash` a
//! video file's identity.

mod decode;
mod error;
mod hash;
mod input;
mod limits;
mod probe;
mod process;
mod reason;
mod select;
#[cfg(test)]
mod test_videos;
mod tools;
mod types;

pub use error::VideoError;
pub(crate) use hash::hash_sampled;
pub use hash::sampled_content_hash;
pub use tools::{ffmpeg_version, first_frame, is_video_path, probe, sample};
pub use types::{Decode, Frame, SamplingOptions, VideoInfo};
