//! HTTP load test: the real `clipfind` server on loopback, an index of 100k vectors, the full-size
//! ViT-B/32 architecture, 8 concurrent clients, a bounded number of searches. Prints searches/s
//! and p50/p99 latency, for popular (repeated) queries and for all-new queries; then a typing
//! client (the prefixes of a query 80 ms apart, as live typing sends them, with a page id) beside
//! the 8 clients: how many superseded prefixes the server dropped before encoding, and the
//! server time the computed ones still cost.
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

/// One answered search: its latency at the client, the server's time and its stages.
struct Answer {
    latency: Duration,
    server_ms: f64,
    stages: Vec<(String, f64)>,
}

/// Runs CLIENTS threads, each sending PER_CLIENT searches for `query(client, i)`; prints the
/// rate, the latencies and where the server's time went (median of each stage).
fn load(label: &str, query: impl Fn(usize, usize) -> String + Sync) {
    let started = Instant::now();
    let results: Vec<(Vec<Answer>, usize)> = std::thread::scope(|s| {
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
                        let body = agent.get(&url).call().ok().and_then(|r| r.into_string().ok());
                        let latency = t.elapsed();
                        let reply = body.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok());
                        match reply {
                            // A full page of hits, or it counts as an error.
                            Some(v) if v["hits"].as_array().is_some_and(|h| h.len() == 30) => times.push(Answer {
                                latency,
                                server_ms: v["took_ms"].as_f64().unwrap_or(0.0),
                                stages: serde_json::from_value(v["stages"].clone()).unwrap_or_default(),
                            }),
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
    let answers: Vec<Answer> = results.into_iter().flat_map(|r| r.0).collect();
    let mut all: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    println!(
        "{label:<34} {:6.1} searches/s  p50 {:6.1} ms  p99 {:6.1} ms  ({} ok, {errors} errors, {CLIENTS} clients)",
        all.len() as f64 / elapsed,
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.99),
        all.len()
    );
    println!("  where it went (medians): {}", where_it_went(&answers));
}

/// The median of each stage, of the server's whole time and of the rest of the latency (the
/// HTTP round trip, the request's way through the server before and after the search).
fn where_it_went(answers: &[Answer]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let mut names: Vec<&str> = Vec::new();
    for a in answers {
        for (name, _) in &a.stages {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let mut parts: Vec<String> = (names.iter())
        .map(|name| {
            let each = answers.iter().map(|a| a.stages.iter().filter(|(n, _)| n == name).map(|s| s.1).sum()).collect();
            format!("{name} {:.1} ms", median(each))
        })
        .collect();
    parts.push(format!("server in all {:.1} ms", median(answers.iter().map(|a| a.server_ms).collect())));
    parts.push(format!("outside the search {:.1} ms", median(answers.iter().map(|a| ms(a.latency) - a.server_ms).collect())));
    parts.join(", ")
}

/// One typed prefix: when it was sent, when (and how) it was answered, the server's time.
struct Prefix {
    sent: Instant,
    answered: Instant,
    status: u16,
    server_ms: f64,
}

/// Types 6 queries a character at a time, each prefix sent 80 ms after the previous without
/// waiting for its answer (as the page does), and reports what happened to the superseded ones.
fn typing() {
    let phrases = ["a dog sitting on a bench", "two people on a beach at sunset", "snowy mountains", "a bowl of fruit", "red car in the rain", "city at night"];
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let (mut superseded, mut dropped, mut computed_late, mut late_ms, mut finals) = (0, 0, 0, 0.0, Vec::new());
    for (round, phrase) in phrases.iter().enumerate() {
        let text = format!("{round} {phrase}");
        let prefixes: Vec<Prefix> = std::thread::scope(|s| {
            let handles: Vec<_> = (3..=text.len())
                .filter(|&n| text.is_char_boundary(n))
                .map(|n| {
                    let (agent, q) = (agent.clone(), text[..n].replace(' ', "%20"));
                    let sent = Instant::now();
                    let handle = s.spawn(move || {
                        let url = format!("http://{ADDR}/api/search?q={q}&k=30&page=typer{round}");
                        let (status, body) = match agent.get(&url).call() {
                            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
                            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
                            Err(_) => (0, String::new()),
                        };
                        let server_ms = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["took_ms"].as_f64()).unwrap_or(0.0);
                        Prefix { sent, answered: Instant::now(), status, server_ms }
                    });
                    std::thread::sleep(Duration::from_millis(80));
                    handle
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, p) in prefixes.iter().enumerate() {
            match prefixes.get(i + 1) {
                // The newer prefix was sent before this one's answer came: superseded.
                Some(next) if next.sent < p.answered => {
                    superseded += 1;
                    match p.status {
                        409 => dropped += 1,
                        _ => (computed_late, late_ms) = (computed_late + 1, late_ms + p.server_ms),
                    }
                }
                Some(_) => {}
                None => {
                    assert_eq!(p.status, 200, "the last prefix is answered");
                    finals.push(p.answered - p.sent);
                }
            }
        }
    }
    println!(
        "typing client (8 others busy): {superseded} prefixes superseded while in flight, {dropped} dropped before encoding (409), {computed_late} computed anyway ({late_ms:.0} ms of server time); final query p50 {:.1} ms",
        percentile(&mut finals, 0.5)
    );
}

/// Text-encoder and FAISS batch counts by size so far, from `/api/status`.
fn batches() -> (Vec<u64>, Vec<u64>) {
    let status = ureq::get(&format!("http://{ADDR}/api/status")).call().unwrap().into_string().unwrap();
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let counts = |key: &str| v[key].as_array().map(|a| a.iter().map(|n| n.as_u64().unwrap_or(0)).collect()).unwrap_or_default();
    (counts("text_batches"), counts("vector_batches"))
}

/// "size x calls" for the batches formed between two readings.
fn batches_between(before: &[u64], after: &[u64]) -> String {
    let formed: Vec<String> = (after.iter().enumerate())
        .map(|(i, n)| (i + 1, n - before.get(i).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .map(|(size, n)| format!("{size}x{n}"))
        .collect();
    formed.join(" ")
}

/// Serves the 100k-vector index with `model` (the int8 text encoder when `int8`) and runs the loads.
fn serve_and_load(root: &Path, model: &Path, index: &Path, int8: bool) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_clipfind"));
    match int8 {
        true => server.env("CLIPFIND_TEXT_INT8", "true"),
        false => server.env_remove("CLIPFIND_TEXT_INT8"),
    };
    let mut server = server
        .env("CLIPFIND_INDEX", index)
        .env("CLIPFIND_DATA", index)
        .env("CLIPFIND_MODEL", model)
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
    println!("server on {ADDR}: 100000 vectors (exact Flat), model {}, {} text encoder", model.display(), if int8 { "int8" } else { "fp32" });
    let popular = ["a dog sitting on a bench", "sunset over the sea", "red car", "birthday cake", "snowy mountains", "a cat on a sofa", "city at night", "two people hiking"];
    load("warm-up", |c, i| popular[(c + i) % popular.len()].to_string());
    let before = batches();
    load("popular queries (cached text)", |c, i| popular[(c * 3 + i) % popular.len()].to_string());
    let between = batches();
    println!("  FAISS batches formed (size x calls): {}", batches_between(&before.1, &between.1));
    load("all-new queries (encoder each time)", |c, i| format!("photo number {} of a scene {c}", i * CLIENTS + c));
    let after = batches();
    println!("  text-encoder batches formed (size x calls): {}", batches_between(&between.0, &after.0));
    println!("  FAISS batches formed (size x calls): {}", batches_between(&between.1, &after.1));
    std::thread::scope(|s| {
        s.spawn(|| load("all-new, beside the typing client", |c, i| format!("another photo {} of a place {c}", i * CLIENTS + c)));
        s.spawn(typing);
    });
    let _ = server.kill();
    let _ = server.wait();
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(model) = common::bench_model() else { return };
    let index = tempfile::tempdir().unwrap();
    let clip = common::load(&model);
    common::synthetic_index(index.path(), &clip, 100_000);
    drop(clip);
    serve_and_load(root, &model, index.path(), false);
    if clipfind_engine::clip::spec::ModelSpec::read(&model).is_ok_and(|spec| spec.text.int8_file.is_some()) {
        serve_and_load(root, &model, index.path(), true);
    }
}
