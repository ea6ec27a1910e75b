//! The values a sample is taken with and gives back: the options, what a probe learns, the frames.

use std::time::Duration;

use image::RgbImage;

/// How [`sample`](fn@super::sample) chooses the frames of a video. See the module docs for the rules.
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

/// What [`probe`](fn@super::probe) learns about a video from its container.
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
