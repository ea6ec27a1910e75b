//! Test videos made with the `ffmpeg` binary on `PATH`.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// Runs the ffmpeg binary to make a test video; `args` go between the global flags and the
/// output file.
pub(super) fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
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

pub(super) fn h264(dir: &Path, name: &str, source: &str, extra: &[&str]) -> PathBuf {
    let mut args =
        vec!["-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"];
    args.extend_from_slice(extra);
    make(dir, name, &args)
}

/// Red for 10 s, green for 10 s, blue for 10 s, 640x480 at 25 fps.
pub(super) fn three_scenes(dir: &Path) -> PathBuf {
    h264(
        dir,
        "three.mp4",
        "color=c=red:s=640x480:r=25:d=30,\
         drawbox=x=0:y=0:w=iw:h=ih:t=fill:c=green:enable='between(t,10,19.99)',\
         drawbox=x=0:y=0:w=iw:h=ih:t=fill:c=blue:enable='gte(t,20)'",
        &[],
    )
}
