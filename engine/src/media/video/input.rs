//! What `ffprobe` and `ffmpeg` may open: local files only, through the demuxers of real video
//! containers, with no picture over the image limit (see "What FFmpeg may open" in the module docs).

use std::{ffi::OsString, path::Path};

use crate::clip::preprocess::MAX_PIXELS;

/// `path` as FFmpeg's `file:` URL, so names with a colon or a leading dash stay file names.
pub(super) fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path);
    url
}

/// The demuxers FFmpeg may use: real video containers (MP4/MOV, Matroska/WebM, AVI, MPEG-PS and
/// -TS, FLV, ASF/WMV, Ogg), none of which opens other files. Playlists (hls, dash), lists
/// (concat) and patterns (image2) are left out: FFmpeg picks a demuxer by content, so a
/// `clip.mp4` could be any of them. Names as `ffmpeg -demuxers` lists them; one name of a
/// demuxer's list (`mov,mp4,m4a,3gp,3g2,mj2`) is enough.
pub(super) const CONTAINERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpeg,mpegts,flv,asf,ogg";

/// Input options for both `ffprobe` and `ffmpeg`: only local files, only [`CONTAINERS`], and no
/// decoded picture over the image limit (the decoder refuses it, even mid-stream).
pub(super) fn input_limits() -> [String; 6] {
    let max_pixels = MAX_PIXELS.to_string();
    ["-protocol_whitelist", "file", "-format_whitelist", CONTAINERS, "-max_pixels", &max_pixels].map(String::from)
}
