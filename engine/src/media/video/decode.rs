//! One `ffmpeg` run over the low-rate sample: how it is started, and what it produced, judged
//! against the duration the container states (see "Broken files" in the module docs).

use std::{path::Path, process::ExitStatus, time::Duration};

use ffmpeg_sidecar::command::FfmpegCommand;

use super::{
    error::VideoError,
    input::{file_url, input_limits},
    process::Supervised,
    reason::{is_warning, reason_from},
    types::{SamplingOptions, VideoInfo},
};

/// Starts `ffmpeg` on the low-rate sample of `path`: raw RGB frames of `width` x `height` on
/// its stdout, stopped after `limit`.
pub(super) fn spawn_decoder(
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

/// What one `ffmpeg` run produced, to judge whether the video decoded.
#[derive(Debug, Default)]
pub(super) struct DecodeRun {
    pub(super) samples: usize,
    last_time: Option<Duration>,
    /// Hash of the last sample's bytes and when those bytes first appeared: a new picture.
    last_picture: Option<(u64, Duration)>,
    /// The longest stretch between new pictures so far.
    longest_same: Duration,
    pub(super) short_read: bool,
    pub(super) status: Option<ExitStatus>,
    pub(super) log: Vec<String>,
}

impl DecodeRun {
    pub(super) fn note_sample(&mut self, time: Duration, bytes: &[u8]) {
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
    pub(super) fn longest_key_gap(&self, duration: Duration) -> Duration {
        match self.last_picture {
            Some((_, since)) => self.longest_same.max(duration.saturating_sub(since)),
            None => Duration::MAX,
        }
    }

    /// Whether ffmpeg succeeded without an error line.
    pub(super) fn clean(&self) -> bool {
        self.status.is_some_and(|s| s.success()) && !self.short_read && !self.log.iter().any(|l| !is_warning(l))
    }

    /// Ok when the sample covers the video; see "Broken files" in the module docs.
    pub(super) fn judge(&self, path: &Path, info: &VideoInfo, options: &SamplingOptions) -> Result<(), VideoError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::video::{process::read_full, test_videos::h264};

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
}
