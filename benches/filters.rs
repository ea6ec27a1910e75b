//! Filtered search and near-duplicate grouping at 10k and 100k vectors (random unit vectors, one
//! photo a minute, so date filters keep known fractions). Prints p50/p99 of a filtered vector
//! search (k=30) with 50% / 1% / 0.01% of the library kept, the first search with a new filter
//! (the catalog query that lists its ids) apart from the later ones (cached per filter), and
//! `clipfind duplicates` times.
//!
//!   cargo bench --no-default-features --features ssr --bench filters

use std::{
    path::Path,
    time::{Duration, Instant},
};

mod common;

use clipfind_engine::{catalog::filter::Filter, search::searcher::{SearchParams, Searcher}};
use common::{load, synthetic_index, SYNTHETIC_START};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    ms(samples[((samples.len() - 1) as f64 * p).round() as usize])
}

/// Photos taken in the `fraction` of the library starting at photo `first` (one a minute).
fn taken_fraction(n: usize, fraction: f64, first: usize) -> Filter {
    let kept = ((n as f64 * fraction).round() as i64).max(1);
    let start = SYNTHETIC_START + first as i64 * 60;
    Filter { after: Some(start), before: Some(start + kept * 60), ..Filter::default() }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/test-tiny");
    for n in [10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        synthetic_index(dir.path(), &load(&model), n);
        let searcher = Searcher::open(dir.path(), load(&model)).unwrap();
        let params = SearchParams { k: 30, min_score: -1.0, ..Default::default() };
        // Queries: stored vectors of photos spread over the library.
        let queries: Vec<Vec<f32>> = (0..50).map(|i| searcher.vector(1 + (i * n as i64 / 50)).unwrap().unwrap()).collect();
        println!("{n} vectors ({}):", searcher.stats().factory);
        for (label, fraction) in [("no filter", 1.0), ("50%", 0.5), ("1%", 0.01), ("0.01%", 0.0001)] {
            let filter = if fraction == 1.0 { Filter::default() } else { taken_fraction(n, fraction, n / 4) };
            let mut warm: Vec<Duration> = (0..200)
                .map(|i| {
                    let t = Instant::now();
                    let hits = searcher.find(&queries[i % queries.len()], params, &[], &filter).unwrap();
                    assert_eq!(hits.len(), 30.min((n as f64 * fraction).round().max(1.0) as usize));
                    t.elapsed()
                })
                .collect();
            // A new filter each time: its ids are listed from the catalog first.
            let mut cold: Vec<Duration> = (0..9)
                .map(|i| {
                    let filter = if fraction == 1.0 { Filter::default() } else { taken_fraction(n, fraction, i * n / 20) };
                    let t = Instant::now();
                    searcher.find(&queries[i], params, &[], &filter).unwrap();
                    t.elapsed()
                })
                .collect();
            println!(
                "  {label:>9} kept: p50 {:6.2} ms  p99 {:6.2} ms; first search with a new filter p50 {:6.2} ms",
                percentile(&mut warm, 0.5),
                percentile(&mut warm, 0.99),
                percentile(&mut cold, 0.5)
            );
        }
        let t = Instant::now();
        let groups = searcher.duplicates(0.95, 5).unwrap();
        let first = t.elapsed();
        let t = Instant::now();
        searcher.duplicates(0.90, 5).unwrap();
        println!("  duplicates: {:.2} s (neighbour search and grouping; {} groups), another threshold {:.1} ms", first.as_secs_f64(), groups.len(), ms(t.elapsed()));
    }
}
