//! Indexing throughput and query latency on the full-size ViT-B/32 architecture (random
//! weights), beside a Python baseline doing what Ultralytics' VisualAISearch does.
//!
//!   python models/tools/export_onnx.py --vit-b32-random models/vit-b32-random   # once
//!   cargo bench --no-default-features --features ssr --bench index
//!
//! The baseline needs the model-tools venv (.venv-tools, see models/README.md); without it the
//! bench says so and prints the Rust numbers only.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

mod common;

use common::{load, load_with, photo_like, synthetic_index};
use clipfind_engine::{
    ingest::indexer::{self, IndexOptions},
    search::searcher::{SearchParams, Searcher},
};
use image::RgbImage;

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// `n` synthetic 640x480 JPEGs (gradients and noise).
fn small_photos(dir: &Path, n: u32) {
    for i in 0..n {
        let mut s = i.wrapping_mul(2_654_435_761) | 1;
        let img = RgbImage::from_fn(640, 480, |x, y| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let noise = (s % 20) as u8;
            image::Rgb([((x * 255 / 640) as u8).saturating_add(noise), ((y * 255 / 480) as u8).saturating_add(noise), ((x + y + i * 31) % 256) as u8])
        });
        img.save(dir.join(format!("photo-{i:03}.jpg"))).unwrap();
    }
}

/// `n` camera-like JPEGs of about `mp` megapixels (the sample photos upscaled, grain, q90).
fn camera_photos(dir: &Path, n: u32, mp: u32) {
    let sources = common::sample_photos();
    for (i, source) in sources.iter().cycle().take(n as usize).enumerate() {
        std::fs::write(dir.join(format!("photo-{i:03}.jpg")), photo_like(source, mp, i as u32)).unwrap();
    }
}

/// Writes `n` photos into a folder.
type MakePhotos = fn(&Path, u32);

/// Median images/s of three fresh `clipfind index` runs over `data` (`count` images), images
/// encoded by the int8 encoder with `image_int8`.
fn index_rate(model: &Path, data: &Path, count: u32, image_int8: bool) -> f64 {
    let clip = load_with(model, image_int8);
    assert_eq!(clip.image_int8(), image_int8, "the int8 image encoder is missing or misses the bar");
    let mut rates = Vec::new();
    for _ in 0..3 {
        let index_dir = tempfile::tempdir().unwrap();
        let options = IndexOptions { batch: 8, ..IndexOptions::new(data.to_path_buf(), index_dir.path().to_path_buf()) };
        let t = Instant::now();
        let s = indexer::run(&clip, &options).unwrap();
        assert_eq!(s.embedded as u32, count);
        rates.push(count as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    rates[1]
}

/// The Python baseline's images/s on `data`, or why there is none.
fn baseline_rate(root: &Path, data: &Path) -> Result<f64, String> {
    let python = root.join(".venv-tools/bin/python");
    if !python.is_file() {
        return Err("no .venv-tools (see models/README.md)".into());
    }
    // The baseline runs as PyTorch users run it: with OpenMP's default (spinning) waits.
    let out = Command::new(&python).arg(root.join("models/tools/baseline_visualaisearch.py")).arg(data).env_remove("OMP_WAIT_POLICY").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().lines().last().and_then(|l| l.parse::<f64>().ok()).ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(model) = common::bench_model() else { return };

    // --- indexing throughput, whole runs (scan, hash, decode, embed, thumbnails, store), 2 threads,
    // beside the baseline on the same files ---
    let sets: [(&str, u32, MakePhotos); 3] = [
        ("640x480 JPEG", 96, small_photos),
        ("12 MP camera-like JPEG", 16, |d, n| camera_photos(d, n, 12)),
        ("24 MP camera-like JPEG", 12, |d, n| camera_photos(d, n, 24)),
    ];
    let has_int8 = load_with(&model, true).image_int8();
    if !has_int8 {
        println!("(no int8 image encoder that holds the bar: models/tools/quantize_image.py makes one; fp32 only)");
    }
    for (label, count, make) in sets {
        let data = tempfile::tempdir().unwrap();
        make(data.path(), count);
        // In turns, so the machine's drift falls on all three alike.
        let fp32 = index_rate(&model, data.path(), count, false);
        let base = baseline_rate(root, data.path());
        let int8 = has_int8.then(|| index_rate(&model, data.path(), count, true));
        let versus = |ours: f64| base.as_ref().map_or(String::new(), |b| format!(" -> {:.2}x", ours / b));
        print!("index {count:>3} x {label:<23} clipfind fp32 {fp32:5.1} img/s{}", versus(fp32));
        if let Some(int8) = int8 {
            print!(", int8 {int8:5.1} img/s{}", versus(int8));
        }
        match &base {
            Ok(b) => println!("; VisualAISearch-style baseline (PIL + PyTorch, same weights) {b:5.1} img/s"),
            Err(why) => println!(" (baseline skipped: {why})"),
        }
    }

    // --- query latency end to end (tokenize, encode, search, hits) at 10k and 100k vectors ---
    let queries = ["a dog sitting on a bench", "red car", "two people on a beach at sunset", "a bowl of fruit", "snowy mountains"];
    for n in [10_000, 100_000] {
        let index_dir = tempfile::tempdir().unwrap();
        synthetic_index(index_dir.path(), &load(&model), n);
        let searcher = Searcher::open(index_dir.path(), load(&model)).unwrap();
        let params = SearchParams { k: 30, min_score: -1.0, ..Default::default() };
        for q in queries {
            searcher.search_text(q, params).unwrap();
        }
        let mut t: Vec<Duration> = (0..100)
            .map(|i| {
                let start = Instant::now();
                // A new text each time: tokenize and encode are part of what is measured.
                let hits = searcher.search_text(&format!("{} {i}", queries[i % queries.len()]), params).unwrap();
                assert_eq!(hits.len(), 30);
                start.elapsed()
            })
            .collect();
        let v = searcher.clip().embed_text("a dog").unwrap();
        let mut s: Vec<Duration> = (0..100)
            .map(|_| {
                let start = Instant::now();
                searcher.search_vector(&v, params, None).unwrap();
                start.elapsed()
            })
            .collect();
        println!(
            "text query at {n:>6} vectors: p50 {:6.2} ms  p95 {:6.2} ms end to end (vector search alone p50 {:.2} ms)",
            percentile(&mut t, 0.5),
            percentile(&mut t, 0.95),
            percentile(&mut s, 0.5)
        );
    }
}
