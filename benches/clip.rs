//! CLIP engine speed on the full-size ViT-B/32 architecture (random weights: same cost as the
//! real model). Prints medians and p95; no assertions.
//!
//!   python models/tools/export_onnx.py --vit-b32-random models/vit-b32-random   # once
//!   cargo bench --no-default-features --features ssr --bench clip
//!
//! CLIPFIND_BENCH_MODEL picks another model folder; CLIPFIND_THREADS the encoder threads (2).

mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use clipfind_engine::{ingest::pipeline::{self, PipelineOptions}, clip::Clip, clip::ClipOptions};
use image::{ImageFormat, RgbImage};

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[i].as_secs_f64() * 1e3
}

fn time_n(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// A photo-like JPEG: smooth gradients plus noise, so it decodes like a real photo.
fn write_jpeg(path: &Path, w: u32, h: u32, seed: u32) {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let img = RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 24) as u8;
        image::Rgb([
            ((x * 255 / w) as u8).saturating_add(n),
            ((y * 255 / h) as u8).saturating_add(n),
            (((x + y + seed * 37) % 256) as u8).saturating_add(n),
        ])
    });
    img.save_with_format(path, ImageFormat::Jpeg).unwrap();
}

fn images(dir: &Path, prefix: &str, n: u32, w: u32, h: u32) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("{prefix}-{i}.jpg"));
            write_jpeg(&p, w, h, i);
            p
        })
        .collect()
}

fn end_to_end(clip: &Clip, paths: &[PathBuf], batch: usize) -> f64 {
    let t = Instant::now();
    let mut done = 0;
    pipeline::embed_files(clip, paths, PipelineOptions { batch, ..PipelineOptions::default() }, |_, r| {
        r.unwrap();
        done += 1;
    })
    .unwrap();
    done as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let Some(model) = common::bench_model() else { return };
    let threads = std::env::var("CLIPFIND_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    let clip = Clip::load(&model, ClipOptions { device: "cpu".parse().unwrap(), threads, ..Default::default() }).unwrap();
    println!("model {} ({}), {threads} threads, on {}", clip.spec().name, model.display(), clip.placement());

    // --- text queries ---
    let short = "a dog sitting on a bench";
    let long = "a very long caption about a red bicycle leaning on a wall ".repeat(12);
    for (label, text) in [("short (8 tokens)", short), ("77 tokens", long.as_str())] {
        let tokens = clip.tokenizer().encode(text).unwrap().len();
        time_n(5, || drop(clip.embed_text(text).unwrap()));
        let mut t = time_n(100, || drop(clip.embed_text(text).unwrap()));
        println!("text query {label:<17} [{tokens:>2} tok]: p50 {:6.2} ms  p95 {:6.2} ms  (tokenize + encode)", percentile(&mut t, 0.5), percentile(&mut t, 0.95));
    }
    let rows = vec![clip.tokenizer().encode(short).unwrap()];
    let mut t = time_n(50, || drop(clip.embed_token_rows(&rows, Some(77)).unwrap()));
    println!("text query short padded to 77      : p50 {:6.2} ms  (what running all 77 positions costs)", percentile(&mut t, 0.5));
    let mut t = time_n(1000, || drop(clip.tokenizer().encode(short).unwrap()));
    println!("tokenize only                      : p50 {:6.3} ms", percentile(&mut t, 0.5));

    // --- images ---
    let dir = tempfile::tempdir().unwrap();
    let small = images(dir.path(), "vga", 48, 640, 480);
    let huge = images(dir.path(), "12mp", 8, 4000, 3000);

    let mut t = time_n(8, || drop(clip.preprocess().load(&huge[0]).unwrap()));
    println!("decode+preprocess 4000x3000 JPEG   : p50 {:6.1} ms", percentile(&mut t, 0.5));
    let mut t = time_n(48, || drop(clip.preprocess().load(&small[0]).unwrap()));
    println!("decode+preprocess 640x480 JPEG     : p50 {:6.2} ms", percentile(&mut t, 0.5));

    let prepared: Vec<_> = small.iter().take(16).map(|p| clip.preprocess().load(p).unwrap()).collect();
    let mut best_encoder = (0.0, 1);
    for batch in [1, 2, 4, 8, 16] {
        let chunk = &prepared[..batch];
        clip.embed_prepared(chunk).unwrap();
        let rounds = (32 / batch).max(2);
        let mut t = time_n(rounds, || drop(clip.embed_prepared(chunk).unwrap()));
        let rate = batch as f64 / (percentile(&mut t, 0.5) / 1e3);
        println!("encoder only, batch {batch:>2}             : {rate:6.1} img/s");
        if rate > best_encoder.0 {
            best_encoder = (rate, batch);
        }
    }
    let (enc_rate, best) = best_encoder;
    let mut runs: Vec<f64> = (0..3).map(|_| end_to_end(&clip, &small, best)).collect();
    runs.sort_by(f64::total_cmp);
    let e2e_best = runs[1];
    let e2e_1 = end_to_end(&clip, &small, 1);
    println!("end to end 640x480, batch 1        : {e2e_1:6.1} img/s (decode + preprocess + encode)");
    println!("end to end 640x480, batch {best:>2}       : {e2e_best:6.1} img/s = {:.0}% of encoder-only {enc_rate:.1}", 100.0 * e2e_best / enc_rate);
    let h1 = end_to_end(&clip, &huge, 1);
    let hb = end_to_end(&clip, &huge, best);
    println!("end to end 4000x3000, batch 1      : {h1:6.1} img/s");
    println!("end to end 4000x3000, batch {best:>2}     : {hb:6.1} img/s");
}
