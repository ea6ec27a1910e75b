//! Why a video could not be sampled ([`VideoError`]), and the error for a binary that does not run.

use std::{
    io,
    path::{Path, PathBuf},
    time::Duration,
};

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

pub(super) const INSTALL: &str = "install FFmpeg (e.g. `apt install ffmpeg`), or set CLIPFIND_FFMPEG to the ffmpeg binary";

pub(super) fn missing(what: &str, binary: &Path, source: Option<io::Error>) -> VideoError {
    VideoError::FfmpegMissing {
        message: format!("{what} is not installed or cannot run (tried `{}`): {INSTALL}", binary.display()),
        source,
    }
}

pub(super) fn spawn_error(what: &str, binary: &Path, source: io::Error) -> VideoError {
    match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => missing(what, binary, Some(source)),
        _ => VideoError::Io { path: binary.into(), source },
    }
}
