//! HTTP load test: the real `clipfind` server on loopback, an index of 100k vectors, the full-size
//! ViT-B/32 architecture, 8 concurrent clients, a bounded number of searches. Prints searches/s
//! and p50/p99 latency, for popular (repeated) queries and for all-new queries.
//!
//!   cargo bench --no-default-features --features ssr --bench http

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};


const CLIENTS: usize = 8;
const PER_CLIENT: usize = 40;
const ADDR: &str = "127.0.0.1:3917";

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// Runs CLIENTS threads, each sending PER_CLIENT searches for `query(client, i)`.
fn load(label: &str, query: impl Fn(usize, usize) -> String + Sync) {
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let query = &query;
                s.spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
                    let mut times = Vec::new();
                    let mut errors = 0;
                    for i in 0..PER_CLIENT {
                        let q = query(c, i);
                        let url = format!("http://{ADDR}/api/search?q={}&k=30", q.replace(' ', "%20"));
                        let t = Instant::now();
                        match agent.get(&url).call().map(|r| r.into_string()) {
                            // A full page of hits, or it counts as an error.
                            Ok(Ok(body)) if body.matches("\"thumb\"").count() == 30 => times.push(t.elapsed()),
                            _ => errors += 1,
                        }
                    }
                    (times, errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let errors: usize = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    println!(
        "{label:<34} {:6.1} searches/s  p50 {:6.1} ms  p99 {:6.1} ms  ({} ok, {errors} errors, {CLIENTS} clients)",
        all.len() as f64 / elapsed,
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.99),
        all.len()
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(model) = common::bench_model() else { return };
    let index = tempfile::tempdir().unwrap();
    let clip = common::load(&model);
    common::synthetic_index(index.path(), &clip, 100_000);
    drop(clip);
    let mut server = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .env("CLIPFIND_INDEX", index.path())
        .env("CLIPFIND_DATA", index.path())
        .env("CLIPFIND_MODEL", &model)
        .env("CLIPFIND_THREADS", "2")
        .env("LEPTOS_SITE_ADDR", ADDR)
        .env("LEPTOS_SITE_ROOT", root.join("target/site"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ureq::get(&format!("http://{ADDR}/api/status")).call().is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = ureq::get(&format!("http://{ADDR}/api/status")).call().unwrap().into_string().unwrap();
    assert!(status.contains("\"images\":100000"), "server did not load the index: {status}");
    println!("server on {ADDR}: 100000 vectors (exact Flat), model {}", model.display());
    let popular = ["a dog sitting on a bench", "sunset over the sea", "red car", "birthday cake", "snowy mountains", "a cat on a sofa", "city at night", "two people hiking"];
    load("warm-up", |c, i| popular[(c + i) % popular.len()].to_string());
    load("popular queries (cached text)", |c, i| popular[(c * 3 + i) % popular.len()].to_string());
    load("all-new queries (encoder each time)", |c, i| format!("photo number {} of a scene {c}", i * CLIENTS + c));
    let _ = server.kill();
    let _ = server.wait();
}
