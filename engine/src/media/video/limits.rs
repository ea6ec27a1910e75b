//! The bounds a sample runs under: how long `ffprobe` and `ffmpeg` may run, which display sizes are
//! accepted, the size of the frames asked of `ffmpeg`, the memory they hold, and valid options.

use std::time::Duration;

use crate::clip::{
    budget,
    preprocess::check_picture_size,
};

use super::{
    error::VideoError,
    types::{SamplingOptions, VideoInfo},
};

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
pub(super) const PROBE_OUTPUT_BYTES: usize = 64 * 1024;

/// Wall-clock limits on the FFmpeg runs (a value so tests can make them tiny).
#[derive(Debug, Clone, Copy)]
pub(super) struct TimeLimits {
    pub(super) probe: Duration,
    pub(super) decode_base: Duration,
    pub(super) decode_per_video_second: u32,
    pub(super) decode_max: Duration,
}

impl TimeLimits {
    pub(super) const DEFAULT: TimeLimits = TimeLimits {
        probe: PROBE_TIME_LIMIT,
        decode_base: DECODE_TIME_BASE,
        decode_per_video_second: DECODE_TIME_PER_VIDEO_SECOND,
        decode_max: DECODE_TIME_MAX,
    };

    /// The limit of one `ffmpeg` run over a video of `duration` (zero: not stated).
    pub(super) fn decode(&self, duration: Duration) -> Duration {
        if duration.is_zero() {
            return self.decode_max;
        }
        self.decode_base.saturating_add(duration.saturating_mul(self.decode_per_video_second)).min(self.decode_max)
    }
}

/// Why a display size is refused: the checks an image's size gets, with the same limits. A video
/// frame of such a size costs memory out of proportion to what it shows.
pub(super) fn check_display_size(info: &VideoInfo) -> Result<(), String> {
    check_picture_size(info.width, info.height, "a picture to search")
}

/// The decode budget a sample of `frame`-sized frames holds while decoding: the frames waiting
/// for the cap (thinned when twice the cap wait) and the one being read, plus `ffmpeg`'s own
/// pictures at the display size, counted as an image that size (another process, same memory).
pub(super) fn sample_memory(info: &VideoInfo, (width, height): (u32, u32), options: &SamplingOptions) -> u64 {
    let frame = u64::from(width) * u64::from(height) * 3;
    let frames = 2 * options.max_frames.max(1) as u64 + 1;
    frame.saturating_mul(frames).saturating_add(budget::decode_cost(info.width, info.height))
}

pub(super) fn validate(o: &SamplingOptions) -> Result<(), VideoError> {
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


/// Longest side of a frame asked of `ffmpeg`: 16 times the default short side. CLIP's centre crop
/// sees only the middle of a longer frame, while each kept frame waits in memory (up to twice
/// `max_frames` of them), so a 16x4000 video would otherwise cost 256x16384 pixels a frame.
pub(super) const MAX_FRAME_SIDE: u32 = 4096;

/// Output frame size: the shorter side `short_side` (rounded down to even), the other scaled to
/// keep the display aspect and rounded to the nearest even number; when that is longer than
/// [`MAX_FRAME_SIDE`], the long side is that and the short one shrinks to keep the aspect.
pub(super) fn frame_size(info: &VideoInfo, short_side: u32) -> (u32, u32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_limits_scale_with_the_duration() {
        // The limits scale with the stated duration, up to the cap; no duration gets the cap.
        let d = TimeLimits::DEFAULT;
        assert_eq!(d.decode(Duration::from_secs(30)), Duration::from_secs(70));
        assert_eq!(d.decode(Duration::from_secs(3600)), DECODE_TIME_MAX);
        assert_eq!(d.decode(Duration::ZERO), DECODE_TIME_MAX);
        assert_eq!(d.decode(Duration::MAX), DECODE_TIME_MAX);
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
    fn frame_size_keeps_the_display_aspect_within_bounds() {
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
}
