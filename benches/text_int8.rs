//! The int8 text encoder against fp32: query latency (p50 of 300 short queries, one at a time),
//! the cosine of int8 to fp32 embeddings on 1,000 varied queries, and the top-10 overlap of
//! searches both ways; with the demo model (which ships one) over the samples/shapes index, and
//! with the full ViT-B/32 architecture (random weights, `models/tools/quantize_text.py
//! models/vit-b32-random` first) over a 10k-vector index.
//!
//!   cargo bench --no-default-features --features ssr --bench text_int8

use std::{path::Path, time::Instant};

use clipfind_engine::{
    clip::{Clip, ClipOptions},
    search::evaluate::EvalSet,
    search::searcher::{SearchParams, Searcher},
};

fn queries(n: usize) -> Vec<String> {
    let colours = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black", "grey", "pink"];
    let shapes = ["circle", "square", "triangle", "star", "ring", "cross", "hexagon", "diamond"];
    let counts = ["a", "two", "three", "four", "many", "one big", "a small", "several"];
    let places = ["", " on the left", " at the top", " on a striped background", " in the middle of a dark scene", " next to a tree"];
    (0..n)
        .map(|i| format!("{} {} {}{}", counts[i % 8], colours[(i / 8) % 10], shapes[(i / 80) % 8], places[(i * 7) % 6]))
        .collect()
}

mod common;

fn load(model: &Path, text_int8: bool) -> Clip {
    Clip::load(model, ClipOptions { device: "cpu".parse().unwrap(), threads: 2, text_int8, ..Default::default() }).unwrap()
}

/// Latency of both encoders and the cosine between their embeddings on 1,000 queries.
fn compare_encoders(fp32: &Clip, int8: &Clip) {
    for (label, clip) in [("fp32", fp32), ("int8", int8)] {
        for _ in 0..20 {
            clip.embed_text("a red circle").unwrap();
        }
        let mut times: Vec<f64> = (0..300)
            .map(|i| {
                let t = Instant::now();
                clip.embed_text(&format!("a red circle {i}")).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("  {label}: short text query p50 {:.2} ms, p95 {:.2} ms", times[150], times[285]);
    }
    let cosines: Vec<f32> = queries(1000)
        .iter()
        .map(|q| fp32.embed_text(q).unwrap().iter().zip(int8.embed_text(q).unwrap()).map(|(a, b)| a * b).sum())
        .collect();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let worst = cosines.iter().copied().fold(1.0, f32::min);
    println!("  cosine int8 to fp32 on {} queries: mean {mean:.5}, worst {worst:.5}", cosines.len());
}

/// Mean share of the top 10 two searchers agree on, over 200 queries.
fn overlap(a: &Searcher, b: &Searcher) -> f64 {
    let params = SearchParams { k: 10, min_score: -1.0, ..Default::default() };
    let ids = |s: &Searcher, q: &str| s.search_text(q, params).unwrap().iter().map(|h| h.id).collect::<Vec<i64>>();
    let all = queries(200);
    all.iter().map(|q| {
        let (x, y) = (ids(a, q), ids(b, q));
        x.iter().filter(|id| y.contains(id)).count() as f64 / 10.0
    }).sum::<f64>() / all.len() as f64
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(big) = common::bench_model().filter(|m| std::fs::read_to_string(m.join("clipfind-model.json")).is_ok_and(|s| s.contains("int8_file"))) {
        println!("{}:", big.display());
        compare_encoders(&load(&big, false), &load(&big, true));
        let index = tempfile::tempdir().unwrap();
        common::synthetic_index(index.path(), &load(&big, false), 10_000);
        let (a, b) = (Searcher::open(index.path(), load(&big, false)).unwrap(), Searcher::open(index.path(), load(&big, true)).unwrap());
        println!("  top-10 overlap fp32 vs int8, 200 queries on a 10,000-vector index: {:.3}", overlap(&a, &b));
    }
    let model = root.join("models/clipfind-demo");
    println!("{}:", model.display());
    let (fp32, int8) = (load(&model, false), load(&model, true));
    compare_encoders(&fp32, &int8);
    let set = EvalSet::load(&root.join("samples/shapes")).unwrap();
    let index = tempfile::tempdir().unwrap();
    let fp32_search = set.index(fp32, index.path()).unwrap();
    let int8_search = Searcher::open(index.path(), int8).unwrap();
    println!("  top-10 overlap fp32 vs int8, 200 queries on the {}-image shapes index: {:.3}", fp32_search.stats().images, overlap(&fp32_search, &int8_search));
}
