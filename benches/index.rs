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

use common::{load, synthetic_index};
use clipfind_engine::{
    indexer::{self, IndexOptions},
    searcher::{SearchParams, Searcher},
};
use image::RgbImage;

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

fn photos(dir: &Path, n: u32) {
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

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(model) = common::bench_model() else { return };

    // --- indexing throughput: 640x480 JPEGs, fresh index, 2 threads ---
    let data = tempfile::tempdir().unwrap();
    let count = 96;
    photos(data.path(), count);
    let clip = load(&model);
    let mut rates = Vec::new();
    for _ in 0..3 {
        let index_dir = tempfile::tempdir().unwrap();
        let options = IndexOptions { batch: 8, ..IndexOptions::new(data.path().to_path_buf(), index_dir.path().to_path_buf()) };
        let t = Instant::now();
        let s = indexer::run(&clip, &options).unwrap();
        assert_eq!(s.embedded as u32, count);
        rates.push(count as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let ours = rates[1];
    println!("clipfind index, {count} x 640x480 JPEG, whole run (scan, hash, decode, embed, thumbnails, store): median {ours:.1} img/s");

    let python = root.join(".venv-tools/bin/python");
    if python.is_file() {
        // The baseline runs as PyTorch users run it: with OpenMP's default (spinning) waits.
        let out = Command::new(&python)
            .arg(root.join("models/tools/baseline_visualaisearch.py"))
            .arg(data.path())
            .env_remove("OMP_WAIT_POLICY")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        match text.trim().lines().last().and_then(|l| l.parse::<f64>().ok()) {
            Some(base) => println!(
                "VisualAISearch-style baseline (PIL + PyTorch, batch 1, same weights):        {base:.1} img/s  -> clipfind is {:.1}x",
                ours / base
            ),
            None => println!("baseline failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
    } else {
        println!("baseline skipped: no .venv-tools (see models/README.md)");
    }

    // --- query latency end to end (tokenize, encode, search, hits) at 10k and 100k vectors ---
    let queries = ["a dog sitting on a bench", "red car", "two people on a beach at sunset", "a bowl of fruit", "snowy mountains"];
    for n in [10_000, 100_000] {
        let index_dir = tempfile::tempdir().unwrap();
        synthetic_index(index_dir.path(), &load(&model), n);
        let searcher = Searcher::open(index_dir.path(), load(&model)).unwrap();
        let params = SearchParams { k: 30, min_score: -1.0 };
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
