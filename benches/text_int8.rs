//! The int8 text encoder against fp32, with the demo model (the one model here that ships one):
//! query latency (p50 of 300 short queries, one at a time), the cosine of int8 to fp32
//! embeddings on 1,000 varied queries, and the top-10 overlap of searches over the samples/shapes
//! index both ways.
//!
//!   cargo bench --no-default-features --features ssr --bench text_int8

use std::{path::Path, time::Instant};

use clipfind_engine::{
    clip::{Clip, ClipOptions},
    evaluate::EvalSet,
    searcher::{SearchParams, Searcher},
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

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/clipfind-demo");
    let load = |text_int8| Clip::load(&model, ClipOptions { device: "cpu".parse().unwrap(), threads: 2, text_int8, ..Default::default() }).unwrap();
    let (fp32, int8) = (load(false), load(true));
    for (label, clip) in [("fp32", &fp32), ("int8", &int8)] {
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
        println!("{label}: short text query p50 {:.2} ms, p95 {:.2} ms", times[150], times[285]);
    }
    let all = queries(1000);
    let cosines: Vec<f32> = all
        .iter()
        .map(|q| fp32.embed_text(q).unwrap().iter().zip(int8.embed_text(q).unwrap()).map(|(a, b)| a * b).sum())
        .collect();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let worst = cosines.iter().copied().fold(1.0, f32::min);
    println!("cosine int8 to fp32 on {} queries: mean {mean:.5}, worst {worst:.5}", cosines.len());

    let set = EvalSet::load(&root.join("samples/shapes")).unwrap();
    let index = tempfile::tempdir().unwrap();
    let fp32_search = set.index(fp32, index.path()).unwrap();
    let int8_search = Searcher::open(index.path(), int8).unwrap();
    let params = SearchParams { k: 10, min_score: -1.0, ..Default::default() };
    let overlap: f64 = all[..200]
        .iter()
        .map(|q| {
            let a: Vec<i64> = fp32_search.search_text(q, params).unwrap().iter().map(|h| h.id).collect();
            let b: Vec<i64> = int8_search.search_text(q, params).unwrap().iter().map(|h| h.id).collect();
            a.iter().filter(|id| b.contains(id)).count() as f64 / 10.0
        })
        .sum::<f64>()
        / 200.0;
    println!("top-10 overlap fp32 vs int8, 200 queries on the {}-image shapes index: {overlap:.3}", fp32_search.stats().images);
}
