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
//! A video gets the limits an image does ([`MAX_PIXELS`], [`MIN_SIDE`] and [`MAX_ASPECT`] of
//! the image path): a display size outside them is [`VideoError::Refused`] after probing, before
//! any frame is decoded, and `ffmpeg`'s decoder refuses pictures over [`MAX_PIXELS`] even when
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

use std::{
    collections::{HashMap, VecDeque},
    ffi::OsString,
    fs::File,
    io::{self, BufRead, BufReader, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio},
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use ffmpeg_sidecar::command::FfmpegCommand;
use image::RgbImage;

use crate::{clip::{
    budget,
    preprocess::{MAX_ASPECT, MAX_PIXELS, MIN_SIDE},
}};

/// How [`sample`] chooses the frames of a video. See the module docs for the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingOptions {
    /// Rate of the low-rate sample, frames per second (default 2): the time resolution of scene
    /// changes and of [`Frame::time`].
    pub sample_fps: f32,
    /// Difference (share of the 32x32 colour grid that changed, 0..1) from the last kept frame
    /// that counts as a scene change (default 0.3: a third of the picture is new).
    pub scene_threshold: f32,
    /// No two scene-change frames closer than this (default 1 s): flashes and fast cutting do not
    /// fill the cap.
    pub min_scene_gap: Duration,
    /// At least one candidate frame every this long (default 10 s), unless the picture has not
    /// changed (`same_threshold`).
    pub max_interval: Duration,
    /// A candidate that differs from the last kept frame by less than this is the same picture
    /// and is dropped (default 0.03: under 3% of the grid changed).
    pub same_threshold: f32,
    /// Most frames kept per video (default 120; 0 counts as 1). When more qualify, the kept set
    /// is: the first frame; then the strongest scene changes (largest difference, earliest on
    /// ties), up to half of the remaining slots; then the rest spread over time: each slot goes to
    /// the gap between frames already taken (or the stretch after the last) whose even
    /// subdivision is coarsest, and takes the candidate nearest its subdivision point. Memory is
    /// bounded by thinning the same way while decoding whenever twice the cap is waiting (at most
    /// ~2 x 120 x 350 KB for 16:9 at the defaults): the strongest scene changes survive that
    /// exactly, the spread approximately (a 2-hour video without cuts ends with gaps of at most
    /// 120 s where 60 s is ideal).
    pub max_frames: usize,
    /// Frames are scaled so their shorter side is this many pixels (default 256, above CLIP's
    /// 224 so a centre crop still fits), aspect kept, both sides even (rounded down to even, at
    /// least 2; at most 4096). The long side is at most 4096 pixels too: a frame longer than that
    /// keeps its aspect with a shorter short side.
    pub short_side: u32,
    /// Which frames `ffmpeg` decodes (default [`Decode::Auto`] with a 2 s limit). See the module
    /// docs.
    pub decode: Decode,
}

/// Which frames `ffmpeg` decodes for the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// Every frame: the sample sees the picture every `1 / sample_fps` seconds, as the rules
    /// assume, at the cost of a full decode.
    AllFrames,
    /// Key frames only (`-skip_frame nokey`): many times faster, but blind between key frames
    /// (a scene change is dated by the next key frame). A stream without key-frame flags, which
    /// gives no frame this way, is decoded in full.
    KeyFrames,
    /// Key frames, when they come at most `max_gap` apart and decode cleanly; otherwise every
    /// frame.
    Auto {
        /// The longest stretch without a new key frame that still counts as seeing the video.
        max_gap: Duration,
    },
}

impl Default for Decode {
    fn default() -> Self {
        Decode::Auto { max_gap: Duration::from_secs(2) }
    }
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            sample_fps: 2.0,
            scene_threshold: 0.3,
            min_scene_gap: Duration::from_secs(1),
            max_interval: Duration::from_secs(10),
            same_threshold: 0.03,
            max_frames: 120,
            short_side: 256,
            decode: Decode::default(),
        }
    }
}

/// What [`probe`] learns about a video from its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoInfo {
    /// Duration of the video stream (of the container when the stream does not say); zero when
    /// neither is known.
    pub duration: Duration,
    /// Display width in pixels: rotation applied, non-square pixels made square.
    pub width: u32,
    /// Display height in pixels, as `width`.
    pub height: u32,
    /// The video codec's short name, as FFmpeg names it (`h264`, `hevc`, `vp9`, `mpeg4`, ...).
    pub codec: String,
}

/// One kept frame of a video.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Presentation time since the start of the video, accurate to one sample period.
    pub time: Duration,
    /// The picture, shorter side [`SamplingOptions::short_side`] pixels.
    pub image: RgbImage,
    /// Whether it was kept as a scene change (false for the first frame and for frames kept by
    /// `max_interval`).
    pub scene_change: bool,
}

/// Why a video could not be sampled. Variants that wrap another error keep it as their `source`.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The `ffmpeg` or `ffprobe` binary does not run.
    #[error("{message}")]
    FfmpegMissing {
        /// What was tried and how to install it.
        message: String,
        /// The error from starting it, when it could not be started.
        #[source]
        source: Option<io::Error>,
    },

    /// FFmpeg cannot open the file as a video (empty, another kind of file, no video stream, an
    /// MP4 whose index is missing).
    #[error("{}: not a readable video: {reason}", path.display())]
    NotAVideo {
        /// The file.
        path: PathBuf,
        /// FFmpeg's own reason, its last meaningful line.
        reason: String,
    },

    /// The file opens as a video, but no frame decodes.
    #[error("{}: no frame could be decoded: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// FFmpeg's own reason, its last meaningful line.
        reason: String,
    },

    /// The frames stop well before the duration the container states, with decoding errors: the
    /// file is cut short (or still being written).
    #[error(
        "{}: video is truncated: frames stop at {:.1} s of {:.1} s ({reason})",
        path.display(), decoded.as_secs_f64(), duration.as_secs_f64()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// How far the frames reach.
        decoded: Duration,
        /// The duration the container states.
        duration: Duration,
        /// FFmpeg's own reason, its last meaningful line.
        reason: String,
    },

    /// The video's display size is one an image would be refused for: too many pixels, too small,
    /// or sides too unequal (a 16x16000 video of a few KB would cost gigabytes of frames).
    #[error("{}: refused: {reason}", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// Which limit, with the size.
        reason: String,
    },

    /// `ffprobe` or `ffmpeg` ran past its wall-clock limit and was stopped (a file that makes
    /// FFmpeg hang or crawl).
    #[error("{}: {tool} took longer than {} s and was stopped", path.display(), limit.as_secs_f64())]
    TimedOut {
        /// The file.
        path: PathBuf,
        /// `ffprobe` or `ffmpeg`.
        tool: &'static str,
        /// The limit it ran under.
        limit: Duration,
    },

    /// Options that cannot be sampled with (a rate that is not positive, a threshold outside 0..1).
    #[error("invalid sampling options: {0}")]
    InvalidOptions(String),

    /// Reading the file, or talking to the `ffmpeg` process, failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file, or the binary being run.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl VideoError {
    /// What went wrong, without the file's name (said beside it, as a skipped file's reason),
    /// with the causes it keeps.
    pub fn reason(&self) -> String {
        let path = match self {
            VideoError::NotAVideo { path, .. }
            | VideoError::Unreadable { path, .. }
            | VideoError::Truncated { path, .. }
            | VideoError::Refused { path, .. }
            | VideoError::TimedOut { path, .. } => Some(path),
            _ => None,
        };
        let message = self.to_string();
        let message = path.and_then(|p| message.strip_prefix(&format!("{}: ", p.display())).map(str::to_string)).unwrap_or(message);
        match std::error::Error::source(self) {
            Some(cause) => format!("{message}: {cause}"),
            None => message,
        }
    }
}

/// The version of the `ffmpeg` binary (for example `5.1.9-0+deb12u1`): checks that it runs.
pub fn ffmpeg_version() -> Result<String, VideoError> {
    Tools::from_env().ffmpeg_version()
}

/// Duration, display size and codec of the video at `path`, from `ffprobe` (reads the headers
/// only).
pub fn probe(path: &Path) -> Result<VideoInfo, VideoError> {
    Tools::from_env().probe(path)
}

/// The frames of the video at `path` that an index should embed, in time order, with what
/// [`probe`] says about it. See the module docs for the rules and for broken files.
pub fn sample(path: &Path, options: &SamplingOptions) -> Result<(VideoInfo, Vec<Frame>), VideoError> {
    Tools::from_env().sample(path, options)
}

/// Whether `path` names a video by its extension (mp4, mov, m4v, mkv, webm, avi; any case).
pub fn is_video_path(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(crate::ingest::scan::is_video_name)
}

/// The first frame of the video at `path` (its thumbnail when indexing did not write one).
pub fn first_frame(path: &Path) -> Result<RgbImage, VideoError> {
    let options = SamplingOptions { max_frames: 1, decode: Decode::KeyFrames, ..SamplingOptions::default() };
    let (_, frames) = sample(path, &options)?;
    frames.into_iter().next().map(|f| f.image).ok_or_else(|| VideoError::Unreadable { path: path.into(), reason: "no frame".into() })
}

/// Size of each chunk [`sampled_content_hash`] reads.
const HASH_CHUNK: u64 = 64 * 1024;
/// Number of chunks [`sampled_content_hash`] reads.
const HASH_CHUNKS: u64 = 16;

/// Identity of a video file without reading all of it: xxh3-128 (32 hex digits) over the file
/// size and 16 chunks of 64 KiB at evenly spaced offsets (the first at 0, the last ending at the
/// end of the file), or over the whole file when it is at most 1 MiB.
///
/// The trade-off: at most 1 MiB in 16 reads, however large the file, so a multi-GB library is
/// fingerprinted without reading it; but an edit that changes neither the size nor any sampled
/// chunk (bytes patched in place between chunks) keeps the hash. Such edits are rare for video:
/// editors and re-encoders rewrite the whole file, and MP4/MOV metadata sits in the first or last
/// chunk. The caller still looks again when a file's size or mtime changes; this hash then tells
/// a rename, copy or touched-but-unchanged file from new content.
pub fn sampled_content_hash(path: &Path) -> io::Result<String> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    hash_sampled(file, size)
}

pub(crate) fn hash_sampled(mut reader: impl Read + Seek, size: u64) -> io::Result<String> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&size.to_le_bytes());
    if size <= HASH_CHUNK * HASH_CHUNKS {
        let mut all = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut all)?;
        hasher.update(&all);
    } else {
        let mut chunk = vec![0u8; HASH_CHUNK as usize];
        let last_start = size - HASH_CHUNK;
        for i in 0..HASH_CHUNKS {
            reader.seek(SeekFrom::Start(last_start * i / (HASH_CHUNKS - 1)))?;
            reader.read_exact(&mut chunk)?;
            hasher.update(&chunk);
        }
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

// ---------------------------------------------------------------------------------------------
// The binaries

/// The `ffmpeg` and `ffprobe` binaries to run: a value rather than a global so tests can point
/// at a missing one without touching the process environment other tests share.
#[derive(Debug, Clone)]
struct Tools {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    limits: TimeLimits,
}

impl Tools {
    fn from_env() -> Self {
        match std::env::var_os("CLIPFIND_FFMPEG").filter(|v| !v.is_empty()) {
            Some(ffmpeg) => Self::at(PathBuf::from(ffmpeg)),
            None => Self {
                ffmpeg: ffmpeg_sidecar::paths::ffmpeg_path(),
                ffprobe: ffmpeg_sidecar::ffprobe::ffprobe_path(),
                limits: TimeLimits::DEFAULT,
            },
        }
    }

    /// `ffmpeg` at `ffmpeg`, and `ffprobe` next to it (`ffmpeg-5` gives `ffprobe-5`).
    fn at(ffmpeg: PathBuf) -> Self {
        let name = ffmpeg.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let probe_name = if name.contains("ffmpeg") { name.replace("ffmpeg", "ffprobe") } else { "ffprobe".into() };
        Self { ffprobe: ffmpeg.with_file_name(probe_name), ffmpeg, limits: TimeLimits::DEFAULT }
    }

    fn ffmpeg_version(&self) -> Result<String, VideoError> {
        ffmpeg_sidecar::version::ffmpeg_version_with_path(&self.ffmpeg).map_err(|err| {
            match err.downcast::<io::Error>() {
                Ok(io) => missing("ffmpeg", &self.ffmpeg, Some(io)),
                Err(other) => VideoError::FfmpegMissing {
                    message: format!("{} does not run as ffmpeg ({other}): {INSTALL}", self.ffmpeg.display()),
                    source: None,
                },
            }
        })
    }

    fn probe(&self, path: &Path) -> Result<VideoInfo, VideoError> {
        let meta = std::fs::metadata(path).map_err(|source| VideoError::Io { path: path.into(), source })?;
        if meta.len() == 0 {
            return Err(VideoError::NotAVideo { path: path.into(), reason: "empty file (0 bytes)".into() });
        }
        let mut command = Command::new(&self.ffprobe);
        command
            .args(["-loglevel", "level+error"])
            .args(input_limits())
            .args(["-select_streams", "V:0", "-of", "flat", "-show_entries"])
            .arg("stream=codec_name,width,height,sample_aspect_ratio,duration:stream_side_data=rotation:stream_tags=rotate:format=duration")
            .arg(file_url(path));
        let mut ffprobe = Supervised::spawn(command, "ffprobe", &self.ffprobe, self.limits.probe)?;
        let io_error = |source| VideoError::Io { path: self.ffprobe.clone(), source };
        let flat = read_capped(&mut ffprobe.stdout, PROBE_OUTPUT_BYTES).map_err(io_error)?;
        let (exit, log) = ffprobe.finish().map_err(io_error)?;
        let Some(status) = exit else {
            return Err(VideoError::TimedOut { path: path.into(), tool: "ffprobe", limit: self.limits.probe });
        };
        if !status.success() {
            let reason = refused_format(&log)
                .or_else(|| reason_from(log.iter().map(String::as_str), path))
                .unwrap_or_else(|| format!("ffprobe failed ({status})"));
            return Err(VideoError::NotAVideo { path: path.into(), reason });
        }
        parse_probe(&String::from_utf8_lossy(&flat))
            .ok_or_else(|| VideoError::NotAVideo { path: path.into(), reason: "no video stream".into() })
    }

    fn sample(&self, path: &Path, options: &SamplingOptions) -> Result<(VideoInfo, Vec<Frame>), VideoError> {
        validate(options)?;
        let info = self.probe(path)?;
        check_display_size(&info).map_err(|reason| VideoError::Refused { path: path.into(), reason })?;
        let (frames, _) = self.sample_frames(path, &info, options)?;
        Ok((info, frames))
    }

    /// The frames, and whether they came from a key-frame pass.
    fn sample_frames(
        &self,
        path: &Path,
        info: &VideoInfo,
        options: &SamplingOptions,
    ) -> Result<(Vec<Frame>, bool), VideoError> {
        let size = frame_size(info, options.short_side);
        let _memory = budget::budget().reserve(sample_memory(info, size, options));
        let limit = self.limits.decode(info.duration);
        if options.decode != Decode::AllFrames {
            let (run, selector) = self.decode(path, size, options, true, limit)?;
            let enough = match options.decode {
                Decode::Auto { max_gap } => run.clean() && run.longest_key_gap(info.duration) <= max_gap,
                _ => run.samples > 0,
            };
            if enough {
                run.judge(path, info, options)?;
                return Ok((selector.finish(), true));
            }
        }
        let (run, selector) = self.decode(path, size, options, false, limit)?;
        run.judge(path, info, options)?;
        Ok((selector.finish(), false))
    }

    /// Runs `ffmpeg` over the low-rate sample of `path` (key frames only or all), passing each
    /// frame through a new [`Selector`]; stopped past `limit`.
    fn decode<'o>(
        &self,
        path: &Path,
        (width, height): (u32, u32),
        options: &'o SamplingOptions,
        keyframes_only: bool,
        limit: Duration,
    ) -> Result<(DecodeRun, Selector<'o>), VideoError> {
        let mut decoder =
            spawn_decoder(&self.ffmpeg, path, (width, height), options.sample_fps, keyframes_only, limit)?;
        let mut selector = Selector::new(options);
        let frame_bytes = width as usize * height as usize * 3;
        let mut run = DecodeRun::default();
        loop {
            let mut buf = vec![0u8; frame_bytes];
            match read_full(&mut decoder.stdout, &mut buf)
                .map_err(|source| VideoError::Io { path: self.ffmpeg.clone(), source })?
            {
                0 => break,
                n if n < frame_bytes => {
                    run.short_read = true; // ffmpeg died mid-frame
                    break;
                }
                _ => {}
            }
            let time = Duration::from_secs_f64(run.samples as f64 / options.sample_fps as f64);
            run.note_sample(time, &buf);
            selector.offer(time, RgbImage::from_raw(width, height, buf).expect("buffer holds exactly one frame"));
        }
        let (exit, log) = decoder.finish().map_err(|source| VideoError::Io { path: self.ffmpeg.clone(), source })?;
        let Some(status) = exit else {
            return Err(VideoError::TimedOut { path: path.into(), tool: "ffmpeg", limit });
        };
        run.status = Some(status);
        run.log = log;
        Ok((run, selector))
    }
}

const INSTALL: &str = "install FFmpeg (e.g. `apt install ffmpeg`), or set CLIPFIND_FFMPEG to the ffmpeg binary";

fn missing(what: &str, binary: &Path, source: Option<io::Error>) -> VideoError {
    VideoError::FfmpegMissing {
        message: format!("{what} is not installed or cannot run (tried `{}`): {INSTALL}", binary.display()),
        source,
    }
}

fn spawn_error(what: &str, binary: &Path, source: io::Error) -> VideoError {
    match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => missing(what, binary, Some(source)),
        _ => VideoError::Io { path: binary.into(), source },
    }
}

/// `path` as FFmpeg's `file:` URL, so names with a colon or a leading dash stay file names.
fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path);
    url
}

/// The demuxers FFmpeg may use: real video containers (MP4/MOV, Matroska/WebM, AVI, MPEG-PS and
/// -TS, FLV, ASF/WMV, Ogg), none of which opens other files. Playlists (hls, dash), lists
/// (concat) and patterns (image2) are left out: FFmpeg picks a demuxer by content, so a
/// `clip.mp4` could be any of them. Names as `ffmpeg -demuxers` lists them; one name of a
/// demuxer's list (`mov,mp4,m4a,3gp,3g2,mj2`) is enough.
const CONTAINERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpeg,mpegts,flv,asf,ogg";

/// Input options for both `ffprobe` and `ffmpeg`: only local files, only [`CONTAINERS`], and no
/// decoded picture over the image limit (the decoder refuses it, even mid-stream).
fn input_limits() -> [String; 6] {
    let max_pixels = MAX_PIXELS.to_string();
    ["-protocol_whitelist", "file", "-format_whitelist", CONTAINERS, "-max_pixels", &max_pixels].map(String::from)
}

/// How long `ffprobe` may run: it reads the headers and a few packets, well under a second on a
/// local disk, so this leaves room for a slow or network one.
const PROBE_TIME_LIMIT: Duration = Duration::from_secs(10);
/// Every `ffmpeg` run may take this long plus [`DECODE_TIME_PER_VIDEO_SECOND`] per second of
/// the stated duration (the start of the process and the file's headers).
const DECODE_TIME_BASE: Duration = Duration::from_secs(10);
/// A full decode runs at 5-10x real time for 1080p H.264 on two threads here, near real time for
/// 4K HEVC on a slow machine; twice real time leaves room for both.
const DECODE_TIME_PER_VIDEO_SECOND: u32 = 2;
/// No `ffmpeg` run takes longer, whatever duration the container states (or when it states
/// none): a full decode of an hour of 1080p fits, and a hostile file holds a worker no longer.
const DECODE_TIME_MAX: Duration = Duration::from_secs(600);
/// Most bytes of `ffprobe` output read (a few hundred are expected); the rest is discarded.
const PROBE_OUTPUT_BYTES: usize = 64 * 1024;

/// Wall-clock limits on the FFmpeg runs (a value so tests can make them tiny).
#[derive(Debug, Clone, Copy)]
struct TimeLimits {
    probe: Duration,
    decode_base: Duration,
    decode_per_video_second: u32,
    decode_max: Duration,
}

impl TimeLimits {
    const DEFAULT: TimeLimits = TimeLimits {
        probe: PROBE_TIME_LIMIT,
        decode_base: DECODE_TIME_BASE,
        decode_per_video_second: DECODE_TIME_PER_VIDEO_SECOND,
        decode_max: DECODE_TIME_MAX,
    };

    /// The limit of one `ffmpeg` run over a video of `duration` (zero: not stated).
    fn decode(&self, duration: Duration) -> Duration {
        if duration.is_zero() {
            return self.decode_max;
        }
        self.decode_base.saturating_add(duration.saturating_mul(self.decode_per_video_second)).min(self.decode_max)
    }
}

/// Why a display size is refused: the checks an image's size gets, with the same limits. A video
/// frame of such a size costs memory out of proportion to what it shows.
fn check_display_size(info: &VideoInfo) -> Result<(), String> {
    let (w, h) = (info.width, info.height);
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("{w}x{h} is larger than the {} megapixel limit", MAX_PIXELS / 1_000_000));
    }
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(format!("{w}x{h} is too small to search (at least {MIN_SIDE}x{MIN_SIDE} pixels)"));
    }
    if w.max(h) / w.min(h) > MAX_ASPECT {
        return Err(format!("{w}x{h} is not a picture to search: its sides differ more than {MAX_ASPECT} times"));
    }
    Ok(())
}

/// The decode budget a sample of `frame`-sized frames holds while decoding: the frames waiting
/// for the cap (thinned when twice the cap wait) and the one being read, plus `ffmpeg`'s own
/// pictures at the display size, counted as an image that size (another process, same memory).
fn sample_memory(info: &VideoInfo, (width, height): (u32, u32), options: &SamplingOptions) -> u64 {
    let frame = u64::from(width) * u64::from(height) * 3;
    let frames = 2 * options.max_frames.max(1) as u64 + 1;
    frame.saturating_mul(frames).saturating_add(budget::decode_cost(info.width, info.height))
}

fn validate(o: &SamplingOptions) -> Result<(), VideoError> {
    let fraction = |v: f32| (0.0..=1.0).contains(&v);
    let problem = if !(o.sample_fps.is_finite() && o.sample_fps > 0.0 && o.sample_fps <= 240.0) {
        format!("sample_fps must be in (0, 240], not {}", o.sample_fps)
    } else if !fraction(o.scene_threshold) || !fraction(o.same_threshold) {
        format!("thresholds must be in 0..1, not {} and {}", o.scene_threshold, o.same_threshold)
    } else if o.short_side < 2 || o.short_side > MAX_FRAME_SIDE {
        format!("short_side must be in 2..={MAX_FRAME_SIDE}, not {}", o.short_side)
    } else {
        return Ok(());
    };
    Err(VideoError::InvalidOptions(problem))
}

// ---------------------------------------------------------------------------------------------
// Probing

/// Reads `ffprobe -of flat` output: `streams.stream.0.width=640`, `format.duration="30.0"`, ...
fn parse_probe(flat: &str) -> Option<VideoInfo> {
    let fields: HashMap<&str, &str> = flat
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect();
    let stream = |key: &str| fields.get(format!("streams.stream.0.{key}").as_str()).copied();
    let seconds = |v: Option<&str>| v.and_then(|s| s.parse::<f64>().ok()).filter(|s| s.is_finite() && *s > 0.0);

    let codec = stream("codec_name")?.to_string();
    let width: u32 = stream("width")?.parse().ok()?;
    let height: u32 = stream("height")?.parse().ok()?;
    let duration = seconds(stream("duration")).or(seconds(fields.get("format.duration").copied())).unwrap_or(0.0);
    // The display matrix's rotation, wherever it sits among the side data (older ffprobe: a tag).
    let rotation = fields
        .iter()
        .find(|(k, _)| k.starts_with("streams.stream.0.side_data_list.") && k.ends_with(".rotation"))
        .map(|(_, v)| *v)
        .or(stream("tags.rotate"));
    let (width, height) = display_size(width, height, stream("sample_aspect_ratio"), rotation);
    Some(VideoInfo { duration: Duration::from_secs_f64(duration), width, height, codec })
}

/// The size a player shows: non-square pixels stretched horizontally, a quarter turn swapping
/// the sides (ffmpeg rotates frames by the same display matrix before our filters see them).
fn display_size(width: u32, height: u32, sar: Option<&str>, rotation: Option<&str>) -> (u32, u32) {
    let sar = sar
        .and_then(|s| s.split_once(':'))
        .and_then(|(n, d)| Some((n.parse::<f64>().ok()?, d.parse::<f64>().ok()?)))
        .filter(|&(n, d)| n > 0.0 && d > 0.0)
        .map_or(1.0, |(n, d)| n / d);
    let width = ((width as f64 * sar).round() as u32).max(1);
    let quarter_turn =
        rotation.and_then(|r| r.parse::<f64>().ok()).is_some_and(|r| (r.abs().round() as i64).rem_euclid(180) == 90);
    if quarter_turn {
        (height, width)
    } else {
        (width, height)
    }
}

/// Longest side of a frame asked of `ffmpeg`: 16 times the default short side. CLIP's centre crop
/// sees only the middle of a longer frame, while each kept frame waits in memory (up to twice
/// `max_frames` of them), so a 16x4000 video would otherwise cost 256x16384 pixels a frame.
const MAX_FRAME_SIDE: u32 = 4096;

/// Output frame size: the shorter side `short_side` (rounded down to even), the other scaled to
/// keep the display aspect and rounded to the nearest even number; when that is longer than
/// [`MAX_FRAME_SIDE`], the long side is that and the short one shrinks to keep the aspect.
fn frame_size(info: &VideoInfo, short_side: u32) -> (u32, u32) {
    let (w, h) = (info.width.max(1) as f64, info.height.max(1) as f64);
    let aspect = w.max(h) / w.min(h);
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let mut short = (short_side & !1).max(2);
    let mut long = even(short as f64 * aspect);
    if long > MAX_FRAME_SIDE {
        long = MAX_FRAME_SIDE;
        short = ((MAX_FRAME_SIDE as f64 / aspect) as u32 & !1).max(2);
    }
    if w <= h {
        (short, long)
    } else {
        (long, short)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A running `ffmpeg` or `ffprobe`: stdout is for the caller to read, stderr is drained by a
/// thread into the last few warnings and errors, and a [`Watchdog`] stops the process past its
/// limit. Dropping it kills and reaps the process.
struct Supervised {
    stdout: ChildStdout,
    log: Arc<Mutex<VecDeque<String>>>,
    drain: Option<JoinHandle<()>>,
    watchdog: Option<Watchdog>,
}

/// How many warning and error lines a run keeps for its error message.
const LOG_LINES: usize = 32;
/// Longest log line kept, in bytes (FFmpeg's are under 200; the rest of a longer one is dropped).
const LOG_LINE_BYTES: usize = 1024;

impl Supervised {
    /// Starts `command` (stdin closed, stdout and stderr piped), stopped after `limit`; `what`
    /// and `binary` name it in errors.
    fn spawn(mut command: Command, what: &str, binary: &Path, limit: Duration) -> Result<Self, VideoError> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| spawn_error(what, binary, source))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(VideoError::Io { path: binary.into(), source: io::Error::other("the process's pipes are missing") });
        };
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let drain = Some(spawn_drain(stderr, Arc::clone(&log)));
        Ok(Self { stdout, log, drain, watchdog: Some(Watchdog::start(child, limit)) })
    }

    /// The process's id (it stays valid until the process is reaped).
    #[cfg(test)]
    fn pid(&self) -> u32 {
        self.watchdog.as_ref().map_or(0, |w| w.pid)
    }

    /// Waits for the exit (the caller has read stdout to its end) and returns the status, or
    /// None when the limit stopped the process, and the kept log lines.
    fn finish(mut self) -> io::Result<(Option<ExitStatus>, Vec<String>)> {
        let exit = match self.watchdog.take() {
            Some(watchdog) => watchdog.wait()?,
            None => None,
        };
        if let Some(drain) = self.drain.take() {
            let _ = drain.join(); // the pipe closed with the process, so this returns
        }
        let log = self.log.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default();
        Ok((exit, log))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        drop(self.watchdog.take()); // kills and reaps the process, closing its pipes
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

/// Owns a child process on a thread of its own, which polls for its exit and kills and reaps it
/// at the deadline or as soon as this is dropped: whoever reads the child's pipes can block on
/// them, and a hung child still ends.
struct Watchdog {
    #[cfg_attr(not(test), allow(dead_code))] // read by the tests that watch the process go
    pid: u32,
    /// Dropped to stop the child early.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<io::Result<Option<ExitStatus>>>>,
}

/// How often a watchdog looks for its child's exit: a few milliseconds on runs of a tenth of a
/// second or more.
const EXIT_POLL: Duration = Duration::from_millis(5);

impl Watchdog {
    fn start(child: Child, limit: Duration) -> Self {
        let pid = child.id();
        let deadline = Instant::now() + limit;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn(move || watch(child, deadline, stopped));
        Self { pid, stop: Some(stop), thread: Some(thread) }
    }

    /// The exit status, or None when the deadline stopped the child.
    fn wait(mut self) -> io::Result<Option<ExitStatus>> {
        let thread = self.thread.take().expect("a watchdog is waited for once");
        thread.join().unwrap_or_else(|_| Err(io::Error::other("the watchdog thread panicked")))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watchdog's loop: the child's status when it exits; None when the deadline or a stop
/// came first (the child is then killed and reaped).
fn watch(mut child: Child, deadline: Instant, stopped: Receiver<()>) -> io::Result<Option<ExitStatus>> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) => {}
            Err(e) => {
                kill_and_reap(&mut child);
                return Err(e);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !matches!(stopped.recv_timeout(left.min(EXIT_POLL)), Err(RecvTimeoutError::Timeout)) {
            kill_and_reap(&mut child);
            return Ok(None);
        }
    }
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts `ffmpeg` on the low-rate sample of `path`: raw RGB frames of `width` x `height` on
/// its stdout, stopped after `limit`.
fn spawn_decoder(
    ffmpeg: &Path,
    path: &Path,
    (width, height): (u32, u32),
    fps: f32,
    keyframes_only: bool,
    limit: Duration,
) -> Result<Supervised, VideoError> {
    // Decode every frame: drop to the sample rate first, then scale only what is kept.
    // Key frames only: there are few, so scale them, then repeat each on the sample grid.
    let scale = format!("scale={width}:{height},setsar=1");
    let rate = format!("fps=fps={fps}:start_time=0:eof_action=pass");
    let filters = if keyframes_only { format!("{scale},{rate}") } else { format!("{rate},{scale}") };

    let mut command = FfmpegCommand::new_with_path(ffmpeg);
    command.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+warning", "-threads", "2"]);
    if keyframes_only {
        command.args(["-skip_frame", "nokey"]);
    }
    command.args(input_limits());
    command.input(file_url(path)).args(["-map", "0:V:0", "-an", "-sn", "-dn"]).filter(filters).rawvideo();
    Supervised::spawn(command.into(), "ffmpeg", ffmpeg, limit)
}

/// Reads `stderr` to its end, keeping the last [`LOG_LINES`] warning and error lines (each cut
/// to [`LOG_LINE_BYTES`]).
fn spawn_drain(stderr: ChildStderr, log: Arc<Mutex<VecDeque<String>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while matches!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES), Ok(true)) {
            let text = String::from_utf8_lossy(&line);
            if ["[error]", "[fatal]", "[panic]", "[warning]"].iter().any(|tag| text.contains(tag)) {
                if let Ok(mut log) = log.lock() {
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(text.trim().to_string());
                }
            }
        }
    })
}

/// Reads one line (up to and with its newline) into `line`, keeping only its first `cap` bytes;
/// false at the end of the input.
fn read_capped_line(reader: &mut impl BufRead, line: &mut Vec<u8>, cap: usize) -> io::Result<bool> {
    line.clear();
    let mut read_any = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(read_any);
        }
        read_any = true;
        let (taken, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&buf[..taken.min(room)]);
        reader.consume(taken);
        if ended {
            return Ok(true);
        }
    }
}

/// Reads `reader` to its end, keeping its first `cap` bytes (the writer never blocks on a full
/// pipe, and memory stays bounded).
fn read_capped(reader: &mut impl Read, cap: usize) -> io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    reader.by_ref().take(cap as u64).read_to_end(&mut kept)?;
    io::copy(reader, &mut io::sink())?;
    Ok(kept)
}

/// The reason for a file whose content FFmpeg would read with a demuxer outside [`CONTAINERS`]
/// (logged as `[hls @ 0x…] Format not on whitelist '…'`, then `Invalid argument`).
fn refused_format(log: &[String]) -> Option<String> {
    let line = log.iter().find(|l| l.contains("Format not on whitelist"))?;
    let demuxer = line.strip_prefix('[')?.split(" @ ").next()?;
    Some(format!("its content is {demuxer}, not a video container (playlists and lists of other files are not read)"))
}

/// Fills `buf` from `reader`; returns how many bytes it got (less than `buf.len()` at the end).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What one `ffmpeg` run produced, to judge whether the video decoded.
#[derive(Debug, Default)]
struct DecodeRun {
    samples: usize,
    last_time: Option<Duration>,
    /// Hash of the last sample's bytes and when those bytes first appeared: a new picture.
    last_picture: Option<(u64, Duration)>,
    /// The longest stretch between new pictures so far.
    longest_same: Duration,
    short_read: bool,
    status: Option<ExitStatus>,
    log: Vec<String>,
}

impl DecodeRun {
    fn note_sample(&mut self, time: Duration, bytes: &[u8]) {
        let hash = xxhash_rust::xxh3::xxh3_64(bytes);
        match self.last_picture {
            Some((last, _)) if last == hash => {}
            Some((_, since)) => {
                self.longest_same = self.longest_same.max(time - since);
                self.last_picture = Some((hash, time));
            }
            None => self.last_picture = Some((hash, time)),
        }
        self.samples += 1;
        self.last_time = Some(time);
    }

    /// The longest stretch without a new picture, counting the one from the last to `duration`
    /// (on a key-frame pass: the longest gap between key frames). The whole duration when there
    /// was no frame.
    fn longest_key_gap(&self, duration: Duration) -> Duration {
        match self.last_picture {
            Some((_, since)) => self.longest_same.max(duration.saturating_sub(since)),
            None => Duration::MAX,
        }
    }

    /// Whether ffmpeg succeeded without an error line.
    fn clean(&self) -> bool {
        self.status.is_some_and(|s| s.success()) && !self.short_read && !self.log.iter().any(|l| !is_warning(l))
    }

    /// Ok when the sample covers the video; see "Broken files" in the module docs.
    fn judge(&self, path: &Path, info: &VideoInfo, options: &SamplingOptions) -> Result<(), VideoError> {
        let errors: Vec<&str> = self.log.iter().map(String::as_str).filter(|l| !is_warning(l)).collect();
        let failed = !self.status.is_some_and(|s| s.success()) || self.short_read;
        let reason = || {
            reason_from(errors.iter().copied(), path)
                .or_else(|| reason_from(self.log.iter().map(String::as_str), path))
                .unwrap_or_else(|| match self.status {
                    Some(status) if !status.success() => format!("ffmpeg failed ({status})"),
                    _ => "ffmpeg produced no frame".to_string(),
                })
        };
        let Some(last) = self.last_time else {
            return Err(VideoError::Unreadable { path: path.into(), reason: reason() });
        };
        let period = Duration::from_secs_f64(1.0 / options.sample_fps as f64);
        let decoded = last + period;
        let slack = period.max(Duration::from_secs(1));
        if (failed || !errors.is_empty()) && decoded + slack < info.duration {
            return Err(VideoError::Truncated {
                path: path.into(),
                decoded,
                duration: info.duration,
                reason: reason(),
            });
        }
        Ok(())
    }
}

fn is_warning(line: &str) -> bool {
    line.contains("[warning]")
}

/// FFmpeg's reason for a failure: the last meaningful line, with the line before it in brackets
/// when that one says something else (`Invalid data found when processing input (moov atom not
/// found)`). Log prefixes (`[mov,mp4 @ 0x…]`, `[error]`) and the file's name are removed.
fn reason_from<'a>(lines: impl Iterator<Item = &'a str>, path: &Path) -> Option<String> {
    // Lines that end the same (`stream 0, offset 0x…: partial file`) say the same thing.
    let core = |line: &str| line.rsplit(": ").next().unwrap_or(line).to_string();
    let cleaned: Vec<String> = lines.filter_map(|l| clean_line(l, path)).collect();
    let last = cleaned.last()?;
    Some(match cleaned.iter().rev().find(|l| core(l) != core(last)) {
        Some(before) => format!("{last} ({before})"),
        None => last.clone(),
    })
}

fn clean_line(line: &str, path: &Path) -> Option<String> {
    let mut text = line.trim();
    while let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((_, after)) => text = after.trim_start(),
            None => break,
        }
    }
    let shown = path.display().to_string();
    for name in [format!("file:{shown}: "), format!("{shown}: ")] {
        if let Some(rest) = text.strip_prefix(name.as_str()) {
            text = rest;
        }
    }
    let noise = text.is_empty() || text == "Conversion failed!" || text.starts_with("Truncating packet of size");
    (!noise).then(|| text.to_string())
}

// ---------------------------------------------------------------------------------------------
// Choosing frames

/// Side of the grid a frame is reduced to for comparison.
const GRID: usize = 32;
/// A cell changed when a channel's mean moved by more than this (of full scale).
const CELL_CHANGE: f32 = 0.1;

/// A frame reduced to a [`GRID`]x[`GRID`] grid of mean colours (0..1), row-major RGB.
struct Thumb(Vec<f32>);

impl Thumb {
    fn of(image: &RgbImage) -> Self {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let span = |cell: usize, len: usize| {
            let start = (cell * len / GRID).min(len - 1);
            (start, ((cell + 1) * len / GRID).clamp(start + 1, len))
        };
        let raw = image.as_raw();
        let mut cells = Vec::with_capacity(GRID * GRID * 3);
        for cy in 0..GRID {
            let (y0, y1) = span(cy, h);
            for cx in 0..GRID {
                let (x0, x1) = span(cx, w);
                let mut sum = [0u32; 3];
                for y in y0..y1 {
                    for px in raw[(y * w + x0) * 3..(y * w + x1) * 3].chunks_exact(3) {
                        for c in 0..3 {
                            sum[c] += px[c] as u32;
                        }
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as f32 * 255.0;
                cells.extend(sum.iter().map(|&s| s as f32 / n));
            }
        }
        Self(cells)
    }

    /// Share of cells (0..1) whose colour moved by more than [`CELL_CHANGE`] in any channel.
    fn difference(&self, other: &Thumb) -> f32 {
        let changed = self
            .0
            .chunks_exact(3)
            .zip(other.0.chunks_exact(3))
            .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| (x - y).abs() > CELL_CHANGE))
            .count();
        changed as f32 / (GRID * GRID) as f32
    }
}

/// Why a sample is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Keep {
    First,
    SceneChange,
    Interval,
}

/// The keep rule for one sample, given the time since the last kept frame and since the last
/// scene change (`None`: none yet) and its difference from the last kept frame.
fn keep_rule(
    o: &SamplingOptions,
    since_kept: Duration,
    since_scene: Option<Duration>,
    difference: f32,
) -> Option<Keep> {
    if difference >= o.scene_threshold && since_scene.is_none_or(|gap| gap >= o.min_scene_gap) {
        Some(Keep::SceneChange)
    } else if since_kept >= o.max_interval && difference >= o.same_threshold {
        Some(Keep::Interval)
    } else {
        None
    }
}

/// A kept frame waiting for the cap, with its rank among scene changes.
struct Candidate {
    frame: Frame,
    /// The difference that made it a scene change; 0 for other frames.
    strength: f32,
}

/// Applies the keep rules to samples in time order, thinning to the cap as it goes.
struct Selector<'a> {
    options: &'a SamplingOptions,
    last_kept: Option<(Duration, Thumb)>,
    last_scene: Option<Duration>,
    candidates: Vec<Candidate>,
}

impl<'a> Selector<'a> {
    fn new(options: &'a SamplingOptions) -> Self {
        Self { options, last_kept: None, last_scene: None, candidates: Vec::new() }
    }

    fn offer(&mut self, time: Duration, image: RgbImage) {
        let thumb = Thumb::of(&image);
        let (keep, difference) = match &self.last_kept {
            None => (Some(Keep::First), 0.0),
            Some((kept_at, kept)) => {
                let difference = thumb.difference(kept);
                let since_scene = self.last_scene.map(|at| time.saturating_sub(at));
                (keep_rule(self.options, time.saturating_sub(*kept_at), since_scene, difference), difference)
            }
        };
        let Some(keep) = keep else { return };
        let scene_change = keep == Keep::SceneChange;
        if scene_change {
            self.last_scene = Some(time);
        }
        self.last_kept = Some((time, thumb));
        let strength = if scene_change { difference } else { 0.0 };
        self.candidates.push(Candidate { frame: Frame { time, image, scene_change }, strength });

        let cap = self.options.max_frames.max(1);
        if self.candidates.len() >= 2 * cap {
            self.candidates = apply_cap(std::mem::take(&mut self.candidates), cap);
        }
    }

    fn finish(self) -> Vec<Frame> {
        let cap = self.options.max_frames.max(1);
        apply_cap(self.candidates, cap).into_iter().map(|c| c.frame).collect()
    }
}

/// Keeps `cap` of `candidates` (in time order, the first being the video's first frame): the
/// first, the strongest scene changes up to half of the other slots, then a spread over time.
fn apply_cap(candidates: Vec<Candidate>, cap: usize) -> Vec<Candidate> {
    if candidates.len() <= cap {
        return candidates;
    }
    let mut chosen = reserved(&candidates, cap);
    let seconds: Vec<f64> = candidates.iter().map(|c| c.frame.time.as_secs_f64()).collect();
    let free = cap - chosen.iter().filter(|&&c| c).count();
    spread_evenly(&seconds, &mut chosen, free);
    fill_farthest(&seconds, &mut chosen, cap);
    candidates.into_iter().zip(chosen).filter_map(|(c, keep)| keep.then_some(c)).collect()
}

/// Which candidates the cap always keeps: the first, and the strongest scene changes (largest
/// difference, earliest on ties) up to half of the other slots.
fn reserved(candidates: &[Candidate], cap: usize) -> Vec<bool> {
    let mut keep = vec![false; candidates.len()];
    if let Some(first) = keep.first_mut() {
        *first = true;
    }
    let mut scenes: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].frame.scene_change).collect();
    scenes.sort_by(|&a, &b| candidates[b].strength.total_cmp(&candidates[a].strength).then(a.cmp(&b)));
    for &i in scenes.iter().take((cap - 1).div_ceil(2)) {
        keep[i] = true;
    }
    keep
}

/// Adds up to `slots` candidates so the chosen times are as evenly spaced as the candidates
/// allow: each slot goes to the gap between chosen frames (or the tail up to the last candidate)
/// whose even subdivision is currently the coarsest; then each gap takes the candidates nearest
/// to its subdivision points. (Plain farthest-point picking halves gaps in powers of two and
/// leaves some twice as long as needed.)
fn spread_evenly(seconds: &[f64], chosen: &mut [bool], slots: usize) {
    let end = seconds[seconds.len() - 1];
    let anchors: Vec<f64> = (0..seconds.len()).filter(|&i| chosen[i]).map(|i| seconds[i]).collect();
    // (start, stop, is the tail, slots given)
    let mut gaps: Vec<(f64, f64, bool, usize)> = anchors.windows(2).map(|w| (w[0], w[1], false, 0)).collect();
    gaps.push((anchors[anchors.len() - 1], end, true, 0));
    // The longest piece a gap is cut into: a tail's last point sits at its end, inner gaps keep
    // both ends.
    let piece = |&(start, stop, tail, n): &(f64, f64, bool, usize)| {
        let parts = if tail { n.max(1) } else { n + 1 };
        (stop - start) / parts as f64
    };
    for _ in 0..slots {
        let coarsest = (0..gaps.len()).max_by(|&a, &b| piece(&gaps[a]).total_cmp(&piece(&gaps[b])).then(b.cmp(&a)));
        match coarsest {
            Some(g) if piece(&gaps[g]) > 0.0 => gaps[g].3 += 1,
            _ => break,
        }
    }
    for (start, stop, tail, n) in gaps {
        let parts = if tail { n } else { n + 1 };
        for k in 1..=n {
            let target = start + (stop - start) * k as f64 / parts as f64;
            let inside = |i: &usize| !chosen[*i] && seconds[*i] > start && (seconds[*i] < stop || tail);
            let nearest = (0..seconds.len())
                .filter(inside)
                .min_by(|&a, &b| (seconds[a] - target).abs().total_cmp(&(seconds[b] - target).abs()).then(a.cmp(&b)));
            if let Some(i) = nearest {
                chosen[i] = true;
            }
        }
    }
}

/// Tops the chosen set up to `cap` (slots a sparse gap could not use) by repeatedly taking the
/// candidate farthest in time from every chosen one, the earliest on ties.
fn fill_farthest(seconds: &[f64], chosen: &mut [bool], cap: usize) {
    let mut count = chosen.iter().filter(|&&c| c).count();
    while count < cap {
        let distance = |i: usize| {
            (0..seconds.len())
                .filter(|&j| chosen[j])
                .map(|j| (seconds[i] - seconds[j]).abs())
                .fold(f64::INFINITY, f64::min)
        };
        let mut best: Option<(usize, f64)> = None;
        for i in (0..seconds.len()).filter(|&i| !chosen[i]) {
            let d = distance(i);
            if best.is_none_or(|(_, bd)| d > bd) {
                best = Some((i, d));
            }
        }
        let Some((pick, _)) = best else { return };
        chosen[pick] = true;
        count += 1;
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    /// Runs the ffmpeg binary to make a test video; `args` go between the global flags and the
    /// output file.
    fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let out = dir.join(name);
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(args)
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("the ffmpeg binary runs");
        assert!(status.success(), "making {name} failed");
        out
    }

    fn h264(dir: &Path, name: &str, source: &str, extra: &[&str]) -> PathBuf {
        let mut args =
            vec!["-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"];
        args.extend_from_slice(extra);
        make(dir, name, &args)
    }

    /// Red for 10 s, green for 10 s, blue for 10 s, 640x480 at 25 fps.
    fn three_scenes(dir: &Path) -> PathBuf {
        h264(
            dir,
            "three.mp4",
            "color=c=red:s=640x480:r=25:d=30,\
             drawbox=x=0:y=0:w=iw:h=ih:t=fill:c=green:enable='between(t,10,19.99)',\
             drawbox=x=0:y=0:w=iw:h=ih:t=fill:c=blue:enable='gte(t,20)'",
            &[],
        )
    }

    fn secs(frames: &[Frame]) -> Vec<f64> {
        frames.iter().map(|f| f.time.as_secs_f64()).collect()
    }

    #[test]
    fn three_scenes_keep_first_and_both_cuts() {
        let dir = tempfile::tempdir().unwrap();
        let path = three_scenes(dir.path());
        let options = SamplingOptions { max_interval: Duration::from_secs(10), ..Default::default() };
        let (info, frames) = sample(&path, &options).unwrap();
        assert_eq!((info.width, info.height, info.codec.as_str()), (640, 480, "h264"));
        assert!((info.duration.as_secs_f64() - 30.0).abs() < 0.1, "{info:?}");
        // 60 samples (0, 0.5, … 29.5 s). Kept: the first (0 s); green at 10 s, a scene change
        // (every cell changes, difference 1.0); blue at 20 s, likewise. The candidates that
        // max_interval raises at 10 s after each (20 s is taken by the cut, then 30 s is past
        // the end) would be the same picture anyway (difference 0). So exactly 3.
        assert_eq!(frames.len(), 3, "{:?}", secs(&frames));
        assert_eq!(frames.iter().map(|f| f.scene_change).collect::<Vec<_>>(), [false, true, true]);
        let t = secs(&frames);
        assert_eq!(t[0], 0.0);
        assert!((t[1] - 10.0).abs() <= 0.5, "{t:?}");
        assert!((t[2] - 20.0).abs() <= 0.5, "{t:?}");
        assert_eq!((frames[0].image.width(), frames[0].image.height()), (342, 256));
        let red = frames[0].image.get_pixel(100, 100).0;
        assert!(red[0] > 200 && red[1] < 60 && red[2] < 60, "{red:?}");

        // A shorter max_interval only adds candidates that are the same picture: still 3.
        let options = SamplingOptions { max_interval: Duration::from_secs(3), ..Default::default() };
        assert_eq!(sample(&path, &options).unwrap().1.len(), 3);
    }

    #[test]
    fn static_video_keeps_only_the_first_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = h264(dir.path(), "static.mp4", "color=c=0x336699:s=320x240:r=10:d=60", &[]);
        let (_, frames) = sample(&path, &SamplingOptions::default()).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].time, Duration::ZERO);
        assert!(!frames[0].scene_change);
    }

    #[test]
    fn motion_keeps_one_per_interval_and_the_cap_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = h264(dir.path(), "motion.mp4", "testsrc2=s=640x360:r=25:d=60", &[]);
        let options = SamplingOptions { max_interval: Duration::from_secs(5), ..Default::default() };
        let (_, frames) = sample(&path, &options).unwrap();
        let t = secs(&frames);
        assert!(frames.len() >= 12, "{} frames: {t:?}", frames.len());
        assert!(t.windows(2).all(|w| w[1] - w[0] <= 5.0 + 1e-9), "a gap over max_interval: {t:?}");
        assert_eq!((frames[0].image.width(), frames[0].image.height()), (456, 256));

        let capped = SamplingOptions { max_frames: 5, ..options };
        let (_, few) = sample(&path, &capped).unwrap();
        assert_eq!(few.len(), 5);
        assert_eq!(few[0].time, Duration::ZERO);
        let spread = secs(&few);
        assert!(spread.windows(2).all(|w| w[0] < w[1]), "{spread:?}");
        // Candidates every 5 s (0..55): thinned to 5 when 10 wait (0 10 20 35 45), then with 50
        // and 55 capped to 0 10 20 45 55 (0 10 25 40 55 without the thinning).
        assert!(spread[4] >= 45.0, "the cap spreads over the video: {spread:?}");
    }

    #[test]
    fn scene_changes_respect_the_minimum_gap() {
        let dir = tempfile::tempdir().unwrap();
        let path = h264(
            dir.path(),
            "flip.mp4",
            "color=c=red:s=320x240:r=20:d=5,\
             drawbox=x=0:y=0:w=iw:h=ih:t=fill:c=blue:enable='gte(mod(t,0.5),0.25)'",
            &[],
        );
        // 10 samples a second, so each 0.25 s flip is seen (at 2/s every sample lands on red).
        let gap = Duration::from_secs(1);
        let options = SamplingOptions { sample_fps: 10.0, min_scene_gap: gap, ..Default::default() };
        let (_, frames) = sample(&path, &options).unwrap();
        let scenes: Vec<Duration> = frames.iter().filter(|f| f.scene_change).map(|f| f.time).collect();
        assert!(scenes.len() >= 3, "{scenes:?}");
        assert!(scenes.windows(2).all(|w| w[1] - w[0] >= gap), "{scenes:?}");

        let no_gap = SamplingOptions { min_scene_gap: Duration::ZERO, ..options };
        let (_, all) = sample(&path, &no_gap).unwrap();
        assert!(all.len() >= 15, "every flip is a scene change without the gap: {}", all.len());
    }

    #[test]
    fn a_clip_shorter_than_a_sample_period_gives_its_first_frame() {
        let dir = tempfile::tempdir().unwrap();
        for (name, source) in [
            ("one_frame.mp4", "color=c=yellow:s=320x240:r=25:d=0.04"),
            ("fifth_of_a_second.mp4", "color=c=yellow:s=320x240:r=25:d=0.2"),
        ] {
            let path = h264(dir.path(), name, source, &[]);
            let (_, frames) = sample(&path, &SamplingOptions::default()).unwrap();
            assert_eq!(frames.len(), 1, "{name}");
            assert_eq!(frames[0].time, Duration::ZERO);
        }
    }

    #[test]
    fn rotated_video_is_sampled_upright() {
        let dir = tempfile::tempdir().unwrap();
        let plain = h264(dir.path(), "plain.mp4", "testsrc2=s=640x480:r=25:d=2", &[]);
        let rotated = make(
            dir.path(),
            "rotated.mp4",
            &["-i", plain.to_str().unwrap(), "-c", "copy", "-metadata:s:v", "rotate=90"],
        );
        let (info, frames) = sample(&rotated, &SamplingOptions::default()).unwrap();
        assert_eq!((info.width, info.height), (480, 640));
        assert_eq!((frames[0].image.width(), frames[0].image.height()), (256, 342));
    }

    #[test]
    fn other_containers_sample() {
        let dir = tempfile::tempdir().unwrap();
        let src = "testsrc2=s=320x240:r=25:d=6";
        let cases: [(&str, &[&str], &str); 4] = [
            ("clip.mkv", &["-c:v", "libx264", "-pix_fmt", "yuv420p"], "h264"),
            ("clip.webm", &["-c:v", "libvpx-vp9", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"], "vp9"),
            ("clip.avi", &["-c:v", "mpeg4", "-q:v", "5"], "mpeg4"),
            ("clip.mov", &["-c:v", "libx264", "-pix_fmt", "yuv420p"], "h264"),
        ];
        for (name, codec, expected) in cases {
            let mut args = vec!["-f", "lavfi", "-i", src];
            args.extend_from_slice(codec);
            let path = make(dir.path(), name, &args);
            let (info, frames) = sample(&path, &SamplingOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(info.codec, expected, "{name}");
            assert!((info.duration.as_secs_f64() - 6.0).abs() < 0.2, "{name}: {info:?}");
            assert!(!frames.is_empty() && frames[0].time == Duration::ZERO, "{name}");
            assert_eq!((frames[0].image.width(), frames[0].image.height()), (342, 256), "{name}");
        }
    }

    #[test]
    fn key_frames_only_sees_the_cuts_x264_marks() {
        let dir = tempfile::tempdir().unwrap();
        let path = three_scenes(dir.path());
        let options = SamplingOptions { decode: Decode::KeyFrames, ..Default::default() };
        let (frames, from_key_frames) =
            Tools::from_env().sample_frames(&path, &probe(&path).unwrap(), &options).unwrap();
        assert!(from_key_frames);
        // x264 puts key frames at the cuts (scenecut), so the same three frames come out.
        let t = secs(&frames);
        assert_eq!(t.len(), 3, "{t:?}");
        assert!((t[1] - 10.0).abs() <= 0.5 && (t[2] - 20.0).abs() <= 0.5, "{t:?}");
    }

    #[test]
    fn auto_uses_key_frames_only_when_they_are_dense() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Tools::from_env();
        let run = |path: &Path, decode: Decode| {
            let options = SamplingOptions { decode, ..Default::default() };
            let (frames, from_key_frames) = tools.sample_frames(path, &probe(path).unwrap(), &options).unwrap();
            (secs(&frames), from_key_frames)
        };
        // A key frame every second: the key-frame pass is kept and finds the same frames.
        let dense = h264(dir.path(), "gop1s.mp4", "testsrc2=s=640x360:r=25:d=30", &["-g", "25"]);
        let (auto, used_keys) = run(&dense, Decode::default());
        assert!(used_keys);
        assert_eq!(auto, run(&dense, Decode::AllFrames).0);
        // x264's default (key frames 10 s apart): decoded in full.
        let sparse = h264(dir.path(), "gop10s.mp4", "testsrc2=s=640x360:r=25:d=30", &[]);
        assert!(!run(&sparse, Decode::default()).1);
        // Three still scenes: key frames at the cuts only, 10 s apart: in full.
        assert!(!run(&three_scenes(dir.path()), Decode::default()).1);
        // A static picture repeats its key frames byte for byte: in full (one frame either way).
        let still = h264(dir.path(), "still.mp4", "color=c=gray:s=320x240:r=25:d=10", &["-g", "25"]);
        assert_eq!(run(&still, Decode::default()), (vec![0.0], false));
    }

    fn assert_not_a_video(result: Result<(VideoInfo, Vec<Frame>), VideoError>, expected: &str) {
        match result {
            Err(VideoError::NotAVideo { reason, .. }) => assert!(reason.contains(expected), "{reason}"),
            other => panic!("expected NotAVideo, got {:?}", other.map(|(i, f)| (i, f.len()))),
        }
    }

    #[test]
    fn broken_files_are_errors_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let options = SamplingOptions::default();

        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        assert_not_a_video(sample(&empty, &options), "empty file");

        let text = dir.path().join("notes.mov");
        std::fs::write(&text, "this is not a video\n").unwrap();
        assert_not_a_video(sample(&text, &options), "Invalid data found when processing input");
        let message = sample(&text, &options).unwrap_err().to_string();
        assert!(message.contains("notes.mov: not a readable video: Invalid data"), "{message}");

        let audio = make(dir.path(), "sound.mp4", &["-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac"]);
        assert_not_a_video(sample(&audio, &options), "no video stream");

        let missing = dir.path().join("nowhere.mp4");
        assert!(matches!(sample(&missing, &options), Err(VideoError::Io { .. })));
    }

    #[test]
    fn truncated_mp4_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let source = "testsrc2=s=640x480:r=25:d=30";
        let front = h264(dir.path(), "front.mp4", source, &["-movflags", "+faststart"]);
        let back = h264(dir.path(), "back.mp4", source, &[]);
        let cut = |path: &Path, name: &str| {
            let bytes = std::fs::read(path).unwrap();
            let out = dir.path().join(name);
            std::fs::write(&out, &bytes[..bytes.len() * 3 / 10]).unwrap();
            out
        };

        // Index at the front: the first ~30% decodes, then the data stops.
        match sample(&cut(&front, "front_cut.mp4"), &SamplingOptions::default()) {
            Err(VideoError::Truncated { decoded, duration, reason, .. }) => {
                assert!(decoded > Duration::from_secs(3) && decoded < Duration::from_secs(20), "{decoded:?}");
                assert!((duration.as_secs_f64() - 30.0).abs() < 0.1);
                assert!(!reason.is_empty());
            }
            other => panic!("expected Truncated, got {:?}", other.map(|(i, f)| (i, f.len()))),
        }
        // Matroska says so itself.
        let mkv = h264(dir.path(), "whole.mkv", source, &[]);
        match sample(&cut(&mkv, "cut.mkv"), &SamplingOptions::default()) {
            Err(VideoError::Truncated { reason, .. }) => assert!(reason.contains("File ended prematurely"), "{reason}"),
            other => panic!("expected Truncated, got {:?}", other.map(|(i, f)| (i, f.len()))),
        }
        // Index at the end (the default): nothing to open.
        assert_not_a_video(sample(&cut(&back, "back_cut.mp4"), &SamplingOptions::default()), "moov atom not found");
    }

    #[test]
    #[cfg(target_os = "linux")] // looks in /proc
    fn dropping_a_decoder_kills_ffmpeg() {
        let dir = tempfile::tempdir().unwrap();
        let path = h264(dir.path(), "long.mp4", "testsrc2=s=320x240:r=25:d=60", &[]);
        let mut decoder =
            spawn_decoder(Path::new("ffmpeg"), &path, (320, 240), 2.0, false, Duration::from_secs(60)).unwrap();
        let mut frame = vec![0u8; 320 * 240 * 3];
        assert_eq!(read_full(&mut decoder.stdout, &mut frame).unwrap(), frame.len());
        let pid = decoder.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(decoder); // mid-video: ffmpeg is still writing frames
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "ffmpeg {pid} outlived its decoder");
    }

    /// Runs `call` on a thread and fails the test when it has not returned within `limit` (a
    /// regression must fail, not hang the suite).
    fn within<T: Send + 'static>(limit: Duration, call: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || done.send(call()));
        result.recv_timeout(limit).ok()
    }

    #[test]
    fn playlists_and_lists_named_mp4_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("segment.ts");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let hls = dir.path().join("clip.mp4");
        std::fs::write(&hls, "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nsegment.ts\n#EXT-X-ENDLIST\n").unwrap();
        let concat = dir.path().join("list.mkv");
        std::fs::write(&concat, "ffconcat version 1.0\nfile segment.ts\n").unwrap();

        for (path, demuxer) in [(hls, "hls"), (concat, "concat")] {
            let file = path.clone();
            let Some(result) = within(Duration::from_secs(60), move || sample(&file, &SamplingOptions::default())) else {
                let _ = std::fs::OpenOptions::new().write(true).open(&fifo); // lets the blocked reader go
                panic!("{} still sampling after 60 s", path.display());
            };
            assert_not_a_video(result, &format!("its content is {demuxer}, not a video container"));

            // ffmpeg refuses it by itself too, without the probe.
            let info = VideoInfo { duration: Duration::from_secs(10), width: 320, height: 240, codec: "h264".into() };
            let decoded = Tools::from_env().sample_frames(&path, &info, &SamplingOptions::default());
            match decoded {
                Err(VideoError::Unreadable { reason, .. }) => assert!(reason.contains("Format not on whitelist"), "{reason}"),
                other => panic!("expected Unreadable, got {:?}", other.map(|(f, _)| f.len())),
            }
        }
    }

    /// Set in the child process [`sample_in_a_child_process`] runs in: the video to sample.
    const CHILD_VIDEO: &str = "CLIPFIND_TEST_SAMPLE_VIDEO";

    /// Samples `path` in a fresh process (this test binary, running only
    /// [`sample_and_report_peak_memory`]) and returns its report: `outcome: …` and `peak_kb: N`.
    fn sample_in_a_child_process(path: &Path) -> (String, u64) {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "video::tests::sample_and_report_peak_memory", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_VIDEO, path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        // libtest prints the test's name first, on the same line.
        let field = |name: &str| stdout.lines().find_map(|l| l.split_once(name)).map(|(_, value)| value.to_string());
        let outcome = field("outcome: ").unwrap_or_else(|| panic!("no outcome: {stdout}"));
        let peak = field("peak_kb: ").and_then(|kb| kb.parse().ok()).unwrap_or_else(|| panic!("no peak: {stdout}"));
        (outcome, peak)
    }

    /// Peak resident memory of this process (VmHWM), in KiB; panics where /proc cannot say.
    fn peak_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
        line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).expect("VmHWM in kB")
    }

    #[test]
    #[ignore = "run by extreme_aspect_videos_are_refused_or_sampled_small, in a process of its own"]
    fn sample_and_report_peak_memory() {
        let path = PathBuf::from(std::env::var_os(CHILD_VIDEO).expect("the video to sample"));
        let outcome = match sample(&path, &SamplingOptions::default()) {
            Ok((_, frames)) => {
                let sides = frames.iter().map(|f| f.image.width().max(f.image.height())).max().unwrap_or(0);
                format!("{} frames, longest side {sides}", frames.len())
            }
            Err(e) => format!("error: {}", e.reason()),
        };
        println!("outcome: {outcome}");
        println!("peak_kb: {}", peak_kb());
    }

    #[test]
    #[cfg(target_os = "linux")] // reads /proc
    fn extreme_aspect_videos_are_refused_or_sampled_small() {
        let dir = tempfile::tempdir().unwrap();
        // 300 s of a colour that changes every second: a scene change each second, so up to
        // twice the cap (240) frames wait at once. At 256 pixels across, as they would be asked
        // for without a bound, a 16x16000 frame is 256x16384 (12 MB): 3 GB in all.
        let changing = |size: &str| format!("color=c=red:s={size}:r=1:d=300,hue=H=2*PI*t/7");
        let tall = h264(dir.path(), "tall.mp4", &changing("16x16000"), &[]);
        let narrow = h264(dir.path(), "narrow.mp4", &changing("16x4000"), &[]);
        assert!(std::fs::metadata(&tall).unwrap().len() < 2 << 20, "a small file for what it would cost");

        // 1000:1: refused, like an image of that shape, before a frame is decoded.
        let (outcome, tall_peak) = sample_in_a_child_process(&tall);
        assert_eq!(outcome, "error: refused: 16x16000 is not a picture to search: its sides differ more than 256 times");
        // 250:1 is allowed, but its frames are at most MAX_FRAME_SIDE long (16x4096, 192 KB).
        let (outcome, narrow_peak) = sample_in_a_child_process(&narrow);
        let frames: usize = outcome.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{outcome}"));
        assert!(frames >= 100, "{outcome}");
        assert!(outcome.ends_with(&format!("longest side {MAX_FRAME_SIDE}")), "{outcome}");
        println!("peak memory: refused 16x16000 {tall_peak} KiB, sampled 16x4000 {narrow_peak} KiB");
        for peak in [tall_peak, narrow_peak] {
            assert!(peak < 256 * 1024, "peak memory {peak} KiB");
        }
    }

    #[test]
    fn a_decode_past_its_limit_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = h264(dir.path(), "long.mp4", "testsrc2=s=640x480:r=25:d=60", &[]);
        let limit = Duration::from_millis(100);
        let limits = TimeLimits { decode_base: limit, decode_per_video_second: 0, decode_max: limit, ..TimeLimits::DEFAULT };
        let tools = Tools { limits, ..Tools::from_env() };
        let options = SamplingOptions { decode: Decode::AllFrames, ..Default::default() };
        let err = tools.sample(&path, &options).unwrap_err();
        assert!(matches!(err, VideoError::TimedOut { tool: "ffmpeg", .. }), "{err:?}");
        assert_eq!(err.reason(), "ffmpeg took longer than 0.1 s and was stopped");

        // The limits scale with the stated duration, up to the cap; no duration gets the cap.
        let d = TimeLimits::DEFAULT;
        assert_eq!(d.decode(Duration::from_secs(30)), Duration::from_secs(70));
        assert_eq!(d.decode(Duration::from_secs(3600)), DECODE_TIME_MAX);
        assert_eq!(d.decode(Duration::ZERO), DECODE_TIME_MAX);
        assert_eq!(d.decode(Duration::MAX), DECODE_TIME_MAX);
    }

    #[test]
    #[cfg(target_os = "linux")] // looks in /proc
    fn a_process_past_its_limit_is_killed_and_reaped() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut sleeper = Supervised::spawn(command, "sleep", Path::new("sleep"), Duration::from_millis(200)).unwrap();
        let pid = sleeper.pid();
        assert!(read_capped(&mut sleeper.stdout, 10).unwrap().is_empty(), "stdout ends when it is killed");
        let (exit, _) = sleeper.finish().unwrap();
        assert!(exit.is_none(), "stopped by the limit: {exit:?}");
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "sleep {pid} outlived its limit");
    }

    #[test]
    fn log_lines_and_outputs_are_read_within_bounds() {
        let mut input = vec![b'x'; 1 << 20];
        input.extend_from_slice(b"\n[error] short\nlast");
        let mut reader = BufReader::with_capacity(4096, &input[..]);
        let mut line = Vec::new();
        assert!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());
        assert_eq!(line.len(), LOG_LINE_BYTES, "a megabyte line is cut");
        assert!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());
        assert_eq!(line, b"[error] short\n");
        assert!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());
        assert_eq!(line, b"last");
        assert!(!read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());

        let mut all = &input[..];
        assert_eq!(read_capped(&mut all, 100).unwrap(), &input[..100]);
        assert!(all.is_empty(), "the rest is read and dropped");
    }

    #[test]
    fn display_sizes_get_the_image_limits() {
        let info = |w, h| VideoInfo { duration: Duration::ZERO, width: w, height: h, codec: String::new() };
        assert_eq!(check_display_size(&info(1920, 1080)), Ok(()));
        assert_eq!(check_display_size(&info(16, 4096)), Ok(()), "256:1 is the limit");
        let refused = |w, h| check_display_size(&info(w, h)).unwrap_err();
        assert!(refused(16, 4112).contains("sides differ more than 256 times"));
        assert!(refused(64, 60000).contains("64x60000 is not a picture to search"));
        assert!(refused(20000, 20000).contains("larger than the 150 megapixel limit"));
        assert!(refused(2, 2).contains("too small"));
        assert!(refused(0, 480).contains("too small"));

        // The decode budget covers the frames that wait for the cap and ffmpeg's own picture.
        let options = SamplingOptions::default();
        let memory = sample_memory(&info(1920, 1080), (456, 256), &options);
        assert_eq!(memory, 456 * 256 * 3 * 241 + budget::decode_cost(1920, 1080));
    }

    #[test]
    fn missing_ffmpeg_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Tools::at(dir.path().join("no-such-bin/ffmpeg"));
        assert_eq!(tools.ffprobe, dir.path().join("no-such-bin/ffprobe"));
        let err = tools.ffmpeg_version().unwrap_err();
        assert!(matches!(&err, VideoError::FfmpegMissing { source: Some(_), .. }), "{err:?}");
        assert!(err.to_string().contains("apt install ffmpeg"), "{err}");

        let video = three_scenes(dir.path());
        let err = tools.sample(&video, &SamplingOptions::default()).unwrap_err();
        assert!(matches!(err, VideoError::FfmpegMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("ffprobe is not installed"), "{err}");

        // ffprobe present but ffmpeg missing: the decode step says so.
        let tools = Tools { ffmpeg: dir.path().join("no-such-bin/ffmpeg"), ..Tools::from_env() };
        let err = tools.sample(&video, &SamplingOptions::default()).unwrap_err();
        assert!(err.to_string().contains("ffmpeg is not installed"), "{err}");

        assert!(ffmpeg_version().unwrap().starts_with(|c: char| c.is_ascii_digit()));
    }

    #[test]
    fn invalid_options_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        for bad in [
            SamplingOptions { sample_fps: 0.0, ..Default::default() },
            SamplingOptions { sample_fps: f32::NAN, ..Default::default() },
            SamplingOptions { scene_threshold: 1.5, ..Default::default() },
            SamplingOptions { short_side: 0, ..Default::default() },
        ] {
            assert!(matches!(sample(&path, &bad), Err(VideoError::InvalidOptions(_))));
        }
    }

    #[test]
    fn video_paths_by_extension() {
        for yes in ["a.mp4", "b.MOV", "c.m4v", "dir/d.mkv", "e.WebM", "f.Avi", "/x/y.z.mp4"] {
            assert!(is_video_path(Path::new(yes)), "{yes}");
        }
        for no in ["a.jpg", "mp4", "b.mp4.part", "c", "d.mpg", ".mp4x", "e.gif"] {
            assert!(!is_video_path(Path::new(no)), "{no}");
        }
    }

    /// Counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: u64,
    }
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }
    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn sampled_hash_reads_only_its_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let size: u64 = 5 * 1024 * 1024 + 123;
        let bytes: Vec<u8> = (0..size).map(|i| (i * 2654435761 % 251) as u8).collect();
        let a = dir.path().join("a.mp4");
        let b = dir.path().join("copy of a.mp4");
        std::fs::write(&a, &bytes).unwrap();
        std::fs::write(&b, &bytes).unwrap();
        let hash = sampled_content_hash(&a).unwrap();
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, sampled_content_hash(&b).unwrap(), "copies hash the same");

        // A byte inside a sampled chunk (chunk 7 starts at 7/15 of the way to the last one).
        let mut edited = bytes.clone();
        let chunk7 = ((size - HASH_CHUNK) * 7 / 15 + 100) as usize;
        edited[chunk7] ^= 1;
        std::fs::write(&b, &edited).unwrap();
        assert_ne!(hash, sampled_content_hash(&b).unwrap());
        // The documented trade-off: a byte between chunks goes unseen.
        let mut between = bytes.clone();
        between[(HASH_CHUNK + 1000) as usize] ^= 1;
        std::fs::write(&b, &between).unwrap();
        assert_eq!(hash, sampled_content_hash(&b).unwrap());
        // The last byte is sampled; so is the size.
        let mut last = bytes.clone();
        *last.last_mut().unwrap() ^= 1;
        std::fs::write(&b, &last).unwrap();
        assert_ne!(hash, sampled_content_hash(&b).unwrap());
        std::fs::write(&b, &bytes[..bytes.len() - 1]).unwrap();
        assert_ne!(hash, sampled_content_hash(&b).unwrap());

        // Cheap: 16 x 64 KiB of a 5 MiB file (and of a 4 GiB sparse one).
        let mut counting = Counting { inner: File::open(&a).unwrap(), read: 0 };
        assert_eq!(hash_sampled(&mut counting, size).unwrap(), hash);
        assert_eq!(counting.read, HASH_CHUNK * HASH_CHUNKS);
        let sparse = dir.path().join("big.mkv");
        File::create(&sparse).unwrap().set_len(4 << 30).unwrap();
        let mut counting = Counting { inner: File::open(&sparse).unwrap(), read: 0 };
        hash_sampled(&mut counting, 4 << 30).unwrap();
        assert_eq!(counting.read, HASH_CHUNK * HASH_CHUNKS);

        // Small files are hashed whole.
        let small = dir.path().join("small.mp4");
        std::fs::write(&small, &bytes[..1000]).unwrap();
        let mut counting = Counting { inner: File::open(&small).unwrap(), read: 0 };
        assert_eq!(hash_sampled(&mut counting, 1000).unwrap(), sampled_content_hash(&small).unwrap());
        assert_eq!(counting.read, 1000);
    }

    fn solid(r: u8, g: u8, b: u8) -> RgbImage {
        RgbImage::from_pixel(64, 48, image::Rgb([r, g, b]))
    }

    #[test]
    fn difference_is_the_changed_share_of_the_grid() {
        let red = Thumb::of(&solid(255, 0, 0));
        assert_eq!(red.difference(&red), 0.0);
        // Equal-luma colours differ fully.
        assert_eq!(red.difference(&Thumb::of(&solid(0, 128, 0))), 1.0);
        // Small shifts (noise, exposure) do not count.
        assert_eq!(red.difference(&Thumb::of(&solid(240, 10, 10))), 0.0);
        // A quarter of the picture changed.
        let mut quarter = solid(255, 0, 0);
        for y in 0..24 {
            for x in 0..32 {
                quarter.put_pixel(x, y, image::Rgb([0, 0, 255]));
            }
        }
        assert_eq!(red.difference(&Thumb::of(&quarter)), 0.25);
        // Tiny images still make a grid.
        let tiny = Thumb::of(&RgbImage::from_pixel(3, 2, image::Rgb([9, 9, 9])));
        assert_eq!(tiny.0.len(), GRID * GRID * 3);
    }

    #[test]
    fn keep_rules() {
        let o = SamplingOptions::default();
        let s = Duration::from_secs;
        assert_eq!(keep_rule(&o, s(1), None, 0.5), Some(Keep::SceneChange));
        assert_eq!(keep_rule(&o, s(1), Some(Duration::from_millis(500)), 0.5), None, "too close to the last cut");
        assert_eq!(keep_rule(&o, s(11), Some(Duration::from_millis(500)), 0.5), Some(Keep::Interval));
        assert_eq!(keep_rule(&o, s(10), None, 0.1), Some(Keep::Interval));
        assert_eq!(keep_rule(&o, s(10), None, 0.01), None, "the same picture");
        assert_eq!(keep_rule(&o, s(9), None, 0.1), None);
    }

    fn candidate(seconds: f64, scene_change: bool, strength: f32) -> Candidate {
        let frame = Frame { time: Duration::from_secs_f64(seconds), image: RgbImage::new(2, 2), scene_change };
        Candidate { frame, strength }
    }

    #[test]
    fn cap_keeps_the_first_the_strongest_cuts_and_a_spread() {
        // 0 s first; cuts at 5 (0.4), 6 (0.9), 7 (0.8), 50 (0.35); interval frames every 10 s.
        let mut list = vec![candidate(0.0, false, 0.0)];
        for (t, s) in [(5.0, 0.4), (6.0, 0.9), (7.0, 0.8)] {
            list.push(candidate(t, true, s));
        }
        for t in [10.0, 20.0, 30.0, 40.0] {
            list.push(candidate(t, false, 0.0));
        }
        list.push(candidate(50.0, true, 0.35));
        list.push(candidate(60.0, false, 0.0));
        let kept: Vec<f64> = apply_cap(list, 5).iter().map(|c| c.frame.time.as_secs_f64()).collect();
        // First; the 2 strongest cuts (6, 7); then farthest from {0, 6, 7}: 60; then from
        // {0, 6, 7, 60}: 30 or 40 are 23 and 20 away... 30 (23 s) wins.
        assert_eq!(kept, [0.0, 6.0, 7.0, 30.0, 60.0]);

        let one: Vec<f64> = apply_cap(vec![candidate(0.0, false, 0.0), candidate(3.0, true, 1.0)], 1)
            .iter()
            .map(|c| c.frame.time.as_secs_f64())
            .collect();
        assert_eq!(one, [0.0]);
    }

    #[test]
    fn probe_output_is_parsed() {
        let flat = "streams.stream.0.codec_name=\"hevc\"\nstreams.stream.0.width=1920\nstreams.stream.0.height=1080\n\
                    streams.stream.0.sample_aspect_ratio=\"1:1\"\nstreams.stream.0.duration=\"N/A\"\n\
                    streams.stream.0.side_data_list.side_data.1.rotation=-90\nformat.duration=\"12.500000\"\n";
        let info = parse_probe(flat).unwrap();
        assert_eq!(
            info,
            VideoInfo { duration: Duration::from_millis(12500), width: 1080, height: 1920, codec: "hevc".into() }
        );
        assert_eq!(parse_probe("format.duration=\"3.0\"\n"), None, "no video stream");
    }

    #[test]
    fn display_size_applies_rotation_and_pixel_aspect() {
        assert_eq!(display_size(640, 480, Some("1:1"), None), (640, 480));
        assert_eq!(display_size(640, 480, Some("1:1"), Some("-90")), (480, 640));
        assert_eq!(display_size(640, 480, None, Some("270")), (480, 640));
        assert_eq!(display_size(640, 480, None, Some("180")), (640, 480));
        assert_eq!(display_size(720, 480, Some("32:27"), None), (853, 480));
        assert_eq!(display_size(720, 480, Some("0:1"), None), (720, 480));
        let info = |w, h| VideoInfo { duration: Duration::ZERO, width: w, height: h, codec: String::new() };
        assert_eq!(frame_size(&info(1920, 1080), 256), (456, 256));
        assert_eq!(frame_size(&info(1080, 1920), 256), (256, 456));
        assert_eq!(frame_size(&info(640, 480), 225), (298, 224));
        assert_eq!(frame_size(&info(100, 100), 256), (256, 256));
        // The long side is bounded; the short one shrinks to keep the aspect.
        assert_eq!(frame_size(&info(16, 4000), 256), (16, MAX_FRAME_SIDE));
        assert_eq!(frame_size(&info(4000, 16), 256), (MAX_FRAME_SIDE, 16));
        assert_eq!(frame_size(&info(16, 1024), 256), (64, MAX_FRAME_SIDE));
        assert_eq!(frame_size(&info(1920, 1080), MAX_FRAME_SIDE), (MAX_FRAME_SIDE, 2304));
    }

    #[test]
    fn reasons_drop_prefixes_and_the_file_name() {
        let path = Path::new("/v/a.mp4");
        let lines = [
            "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5566c781c640] [error] moov atom not found",
            "[error] /v/a.mp4: Invalid data found when processing input",
            "Conversion failed!",
        ];
        assert_eq!(
            reason_from(lines.into_iter(), path).unwrap(),
            "Invalid data found when processing input (moov atom not found)"
        );
        assert_eq!(reason_from(["", "  "].into_iter(), path), None);
        let repeated = [
            "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] [error] stream 0, offset 0xd9212: partial file",
            "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] [error] stream 0, offset 0xda843: partial file",
        ];
        assert_eq!(reason_from(repeated.into_iter(), path).unwrap(), "stream 0, offset 0xda843: partial file");
    }
}
