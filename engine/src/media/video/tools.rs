//! The entry points: the `ffmpeg` and `ffprobe` binaries to run ([`Tools`]), and a sample taken
//! with them: probe, check the limits, decode (key frames first), select the frames.

use std::{
    io,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use image::RgbImage;

use crate::clip::budget;

use super::{
    decode::{spawn_decoder, DecodeRun},
    error::{missing, VideoError, INSTALL},
    input::{file_url, input_limits},
    limits::{check_display_size, frame_size, sample_memory, validate, TimeLimits, PROBE_OUTPUT_BYTES},
    probe::parse_probe,
    process::{read_capped, read_full, Supervised},
    reason::{reason_from, refused_format},
    select::Selector,
    types::{Decode, Frame, SamplingOptions, VideoInfo},
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::video::{
        limits::MAX_FRAME_SIDE,
        test_videos::{h264, make, three_scenes},
    };
    use std::sync::mpsc;

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
            .args(["--exact", &format!("{}::sample_and_report_peak_memory", test_module()), "--ignored", "--nocapture"])
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

    /// This module's path as libtest names its tests (without the crate's name).
    fn test_module() -> &'static str {
        module_path!().split_once("::").map_or(module_path!(), |(_, path)| path)
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
}
