//! The exact vector search alone at 100k 512-d vectors: one FAISS call for a batch of 1 to 8
//! queries, by how FAISS scans (one query at a time, or matrix products over blocks of the
//! vectors), to see what a batch of concurrent queries costs. Medians of 15 calls.
//!
//!   cargo bench --no-default-features --features ssr --bench vectors

mod common;

use std::time::Instant;

use clipfind_engine::store::{faiss_store::{self, FaissStore}, vectors::VectorSearch};

fn main() {
    let n = 100_000;
    let mut gen = common::Vectors::new(7);
    let vectors: Vec<f32> = (0..n).flat_map(|_| gen.unit(1.0, None)).collect();
    let ids: Vec<i64> = (0..n as i64).collect();
    let store = FaissStore::flat(512, &ids, &vectors).unwrap();
    let queries: Vec<f32> = (0..8).flat_map(|_| gen.unit(1.0, None)).collect();
    println!("exact search, {n} vectors, k 40, one FAISS call (median of 15 calls):");
    for (label, threshold, block) in [("one query at a time (SIMD scan)", 1000, 1024), ("matrix products, blocks of 1,024 (FAISS default)", 2, 1024), ("matrix products, blocks of 16,384", 2, 16_384), ("matrix products, blocks of 65,536", 2, 65_536)] {
        faiss_store::set_batched_scan(threshold, block);
        let mut line = format!("  {label:<50}");
        for batch in [1, 2, 4, 8] {
            let q = &queries[..batch * 512];
            store.search(q, 40).unwrap();
            let mut t: Vec<f64> = (0..15)
                .map(|_| {
                    let s = Instant::now();
                    store.search(q, 40).unwrap();
                    s.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            t.sort_by(f64::total_cmp);
            line += &format!("  batch {batch}: {:5.1} ms", t[7]);
        }
        println!("{line}");
    }
}
