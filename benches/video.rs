//! Indexing a 1080p H.264 video end to end (sampling by ffmpeg, embedding the kept frames with
//! the bundled demo model, committing), against sampling alone and ffmpeg's decode alone: how
//! many frames are kept, seconds of video indexed per wall second, and how much of it is
//! decoding. The video is made first with ffmpeg (60 s of `testsrc2` at 1920x1080, 30 fps, a key
//! frame every second as phones write them; set CLIPFIND_BENCH_GOP=250 for x264's default).
//!
//!   cargo bench --no-default-features --features ssr --bench video

use std::{path::Path, process::Command, time::Instant};

use clipfind_engine::{
    clip::{Clip, ClipOptions},
    ingest::indexer::{self, IndexOptions},
    media::video::{self, SamplingOptions},
};

const SECONDS: u32 = 60;
const RUNS: usize = 3;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn make_video(path: &Path, gop: &str) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("testsrc2=size=1920x1080:rate=30:duration={SECONDS}")])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", gop])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gop = std::env::var("CLIPFIND_BENCH_GOP").unwrap_or_else(|_| "30".into());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("videos");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("1080p.mp4");
    make_video(&file, &gop);
    println!("60 s of 1920x1080 H.264 at 30 fps, a key frame every {gop} frames ({} MB)", std::fs::metadata(&file).unwrap().len() >> 20);

    let decode_only: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let status = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&file).args(["-vf", "fps=2,scale=-2:256", "-f", "null", "-"]).status().unwrap();
            assert!(status.success());
            t.elapsed().as_secs_f64()
        })
        .collect();
    let mut kept = 0;
    let sampled: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            kept = video::sample(&file, &SamplingOptions::default()).unwrap().1.len();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let clip = Clip::load(&root.join("models/clipfind-demo"), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).unwrap();
    let mut frames = 0;
    let indexed: Vec<f64> = (0..RUNS)
        .map(|run| {
            let index_dir = dir.path().join(format!("index-{run}"));
            let t = Instant::now();
            let summary = indexer::run(&clip, &IndexOptions { thumbnails: true, ..IndexOptions::new(data.clone(), index_dir) }).unwrap();
            frames = summary.video_frames;
            t.elapsed().as_secs_f64()
        })
        .collect();
    let (decode, sample, index) = (median(decode_only), median(sampled), median(indexed));
    println!("ffmpeg alone, every frame decoded, 2/s sampled (median of {RUNS}): {decode:.2} s");
    println!("video::sample (key frames first when they are 2 s apart at most): {sample:.2} s, {kept} frames kept");
    println!(
        "clipfind index (sample, embed, thumbnails, commit): {index:.2} s, {frames} frames: {:.1} s of video per wall second, {:.2} frames indexed per second of video, {:.1} frames per wall second",
        SECONDS as f64 / index,
        frames as f64 / SECONDS as f64,
        frames as f64 / index
    );
    println!("sampling is {:.0}% of indexing; the rest is embedding {frames} frames and writing", 100.0 * sample / index);
}
