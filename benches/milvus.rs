//! The Milvus store against the embedded FAISS store on the same 100,000 synthetic 512-d unit
//! vectors (a real catalog and vector file, as `clipfind index` writes them): how fast the
//! vectors upload into Milvus (the sync `clipfind index --store milvus://…` runs), and the query
//! latency (p50/p99 of the vector search alone, one query at a time, k = 10) through Milvus
//! (FLAT: exact; HNSW: approximate, with its recall@10 against exact search) and through FAISS
//! exact search in the same process. Milvus 2.3.5 (scripts/setup.sh installs it) is started on
//! a free loopback port with its data in a temporary folder.
//!
//!   cargo bench --no-default-features --features ssr --bench milvus [-- N]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use clipfind_engine::{catalog::Catalog, clip::Clip, catalog::filter::Filter, store::{
        choice::StoreChoice,
        indexed::IndexedVectors,
        milvus::{sync, MilvusVectors, Remote},
        LibraryVectors, VectorSearch,
    }};

mod common;

const DIM: usize = 512;
const QUERIES: usize = 500;
const UPLOADS: usize = 3;

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let clip = common::load(&common::bench_model().unwrap_or_else(|| PathBuf::from("models/test-tiny")));
    let work = tempfile::tempdir().unwrap();
    let (launcher, port) = start_milvus(&work.path().join("milvus"));
    let dir = work.path().join("index");
    std::fs::create_dir_all(&dir).unwrap();
    let mut clustered = common::Vectors::new(0x9E37_79B9);
    common::synthetic_index_of(&dir, &clip, n, || clustered.next());
    println!("## {n} vectors of {DIM} floats; Milvus 2.3.5 standalone on 127.0.0.1:{port}, this machine's 2 cores shared with it");

    // Upload: a fresh collection each time, the whole library sent.
    let mut seconds = Vec::new();
    for run in 0..UPLOADS {
        let url = format!("milvus://127.0.0.1:{port}/bench_flat_{run}");
        let t = Instant::now();
        upload(&dir, &clip, &url);
        seconds.push(t.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[UPLOADS / 2];
    println!("upload (sync into an empty FLAT collection, flush included): median {median:.1} s of {UPLOADS} = {:.0} vectors/s (runs: {seconds:.1?})", n as f64 / median);
    let t = Instant::now();
    upload(&dir, &clip, &format!("milvus://127.0.0.1:{port}/bench_flat_{}", UPLOADS - 1));
    println!("sync with nothing changed: {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    upload(&dir, &clip, &format!("milvus://127.0.0.1:{port}/bench_flat_0"));
    println!("sync to a collection the catalog's marker does not match (every row listed and checked, none sent): {:.2} s", t.elapsed().as_secs_f64());

    // Queries near the photos (other points of the same clusters), as text queries land.
    let mut fresh = common::Vectors::new(0x2545_F491);
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| fresh.next()).collect();
    let catalog = Catalog::open_read_only(&dir).unwrap();
    let faiss = IndexedVectors::open(&catalog, &dir, DIM).unwrap();
    let exact: Vec<Vec<i64>> = queries.iter().map(|q| faiss.search(q, 10).unwrap().remove(0).into_iter().map(|h| h.0).collect()).collect();
    report("FAISS exact (embedded, in process)", &queries, &exact, |q| faiss.search(q, 10).unwrap().remove(0));

    let identity = clip.identity().unwrap();
    for (label, collection, index) in [("Milvus FLAT", "bench_flat_0", ""), ("Milvus HNSW (M 16, ef 64)", "bench_hnsw", "?index=hnsw")] {
        let url = format!("milvus://127.0.0.1:{port}/{collection}{index}");
        if !index.is_empty() {
            let t = Instant::now();
            upload(&dir, &clip, &url);
            let remote = Remote::new(milvus_url(&url)).unwrap();
            let built = remote.wait_for_index(Duration::from_secs(600)).unwrap();
            println!("HNSW collection: upload and index build {:.1} s (built: {built})", t.elapsed().as_secs_f64());
        }
        let vectors = MilvusVectors::open(&catalog, &dir, milvus_url(&url), DIM, &identity, &clip.spec().name).unwrap();
        report(label, &queries, &exact, |q| vectors.search(q, 10).unwrap().remove(0));
        // A filter Milvus evaluates next to the vectors: a tenth of the photos by date.
        let filter = Filter { after: Some(common::SYNTHETIC_START + (n as i64 * 60) * 9 / 10), ..Filter::default() };
        let ids_of = |_: &Filter| -> clipfind_engine::Result<std::sync::Arc<Vec<i64>>> { unreachable!("a date filter needs no catalog ids") };
        let mut times: Vec<Duration> = queries.iter().map(|q| {
            let t = Instant::now();
            vectors.search_filtered(q, &filter, &ids_of, 10).unwrap().unwrap();
            t.elapsed()
        }).collect();
        println!("  {label}, filtered to the newest 10%: {}", percentiles(&mut times));
    }
    drop(launcher);
}

fn milvus_url(text: &str) -> clipfind_engine::store::choice::MilvusUrl {
    match text.parse::<StoreChoice>().unwrap() {
        StoreChoice::Milvus(url) => url,
        StoreChoice::Local => unreachable!(),
    }
}

/// What `clipfind index --store URL` does once the catalog is written: the collection made or
/// checked, then the sync.
fn upload(dir: &Path, clip: &Clip, url: &str) {
    let remote = Remote::new(milvus_url(url)).unwrap();
    remote.ensure_collection(DIM, &clip.identity().unwrap(), &clip.spec().name, false).unwrap();
    let mut catalog = Catalog::open(dir).unwrap();
    sync(&mut catalog, dir, DIM, &remote, &|_, _| {}).unwrap();
}

fn report(label: &str, queries: &[Vec<f32>], exact: &[Vec<i64>], search: impl Fn(&[f32]) -> Vec<(i64, f32)>) {
    search(&queries[0]); // warm-up: connection, caches
    let mut found = 0;
    let mut times = Vec::with_capacity(queries.len());
    for (q, truth) in queries.iter().zip(exact) {
        let t = Instant::now();
        let hits = search(q);
        times.push(t.elapsed());
        found += hits.iter().filter(|h| truth.contains(&h.0)).count();
    }
    let recall = found as f64 / (queries.len() * 10) as f64;
    println!("{label}: {} (recall@10 {recall:.3}, {} queries)", percentiles(&mut times), queries.len());
}

fn percentiles(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    format!("p50 {:.2} ms, p99 {:.2} ms", at(0.5), at(0.99))
}

/// scripts/milvus-server.py on a free port; stops when the returned child is dropped (its
/// standard input closes as this process ends).
fn start_milvus(data: &Path) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let python = PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/clipfind/milvus/bin/python");
    let mut child = Command::new(python)
        .arg("scripts/milvus-server.py")
        .arg("--data")
        .arg(data)
        .args(["--port", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("scripts/setup.sh installed Milvus");
    let ready = BufReader::new(child.stdout.take().unwrap()).lines().any(|l| l.is_ok_and(|l| l.starts_with("ready")));
    assert!(ready, "Milvus started");
    (child, port)
}
