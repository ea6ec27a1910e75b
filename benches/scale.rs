//! A million photos and more: synthetic clustered 512-d unit vectors (no image files) written
//! into a real index exactly as `clipfind index` writes them (catalog rows, vector file, vector
//! log), the size policy's vector index built, then a fresh process measures what a user waits
//! for: ready time, resident memory, query latency (vector part alone, and end to end with the
//! text encoder), recall@10 against exact search; plus adding and removing 1,000 photos, and the
//! disk an image costs.
//!
//!   cargo bench --no-default-features --features ssr --bench scale                   # 100k and 1M
//!   cargo bench --no-default-features --features ssr --bench scale -- 10000000        # any sizes
//!   cargo bench --no-default-features --features ssr --bench scale -- --files 1000000 # real files
//!
//! `--files N` makes N real (empty) image files and a matching catalog, then times
//! `clipfind index` with nothing changed and after adding one photo. The text encoder is the
//! model in CLIPFIND_BENCH_MODEL, else models/test-tiny (512-d, so any 512-d model fits).
//! Work folder: CLIPFIND_BENCH_DIR (default: the system temp folder); 10M needs about 25 GB.
//! CLIPFIND_BENCH_KEEP=1 keeps the `--files` folder for runs by hand.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use clipfind_engine::{
    catalog::vector_file::{self, VectorAppender, FILE_KEY, SLOTS_KEY},
    catalog::{Catalog, NewImage},
    clip::{Clip, ClipOptions},
    media::photo_meta::PhotoMeta,
    search::searcher::{SearchParams, Searcher},
    store::policy::{FactoryChoice, IndexPolicy},
    store::snapshot::{self, Committed},
};

mod common;
use common::Vectors;

const DIM: usize = 512;
/// Rows per catalog transaction while the library is written.
const BATCH: usize = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("--probe") => probe(Path::new(&args[1])),
        Some("--files") => files(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000)),
        _ => {
            let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
            let sizes = if sizes.is_empty() { vec![100_000, 1_000_000] } else { sizes };
            for n in sizes {
                vectors(n);
            }
        }
    }
}

fn model() -> PathBuf {
    clipfind_engine::runtime::openmp::ensure_passive_wait();
    std::env::var_os("CLIPFIND_BENCH_MODEL").map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test-tiny"), PathBuf::from)
}

fn load_clip() -> Clip {
    Clip::load(&model(), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).unwrap()
}

fn work_dir() -> tempfile::TempDir {
    match std::env::var_os("CLIPFIND_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// Deterministic clustered unit vectors: the same 1,000 random centres for every seed, each
/// vector its centre plus noise of about 0.7 of its length (cosine to its centre about 0.8),
/// like photo embeddings.
/// A new index of `n` synthetic photos under the bench model's identity.
fn write_library(dir: &Path, clip: &Clip, n: usize, file_of: impl Fn(usize) -> (String, u64, i64)) -> Catalog {
    let mut catalog = Catalog::open(dir).unwrap();
    catalog.set_meta("model_identity", &clip.identity().unwrap()).unwrap();
    catalog.set_meta("model_name", &clip.spec().name).unwrap();
    catalog.set_meta("dim", &DIM.to_string()).unwrap();
    catalog.set_meta(FILE_KEY, &vector_file::file_name(1)).unwrap();
    catalog.set_meta(SLOTS_KEY, "0").unwrap();
    let mut appender = VectorAppender::open(&dir.join(vector_file::file_name(1)), 0, DIM).unwrap();
    let mut source = Vectors::new(0x9E37_79B9);
    for start in (0..n).step_by(BATCH) {
        catalog
            .write_vectors(&mut appender, |w, appender| {
                for i in start..(start + BATCH).min(n) {
                    let (path, size, mtime_ns) = file_of(i);
                    let hash = format!("{i:032x}");
                    let image = NewImage { path: &path, size, mtime_ns, hash: &hash, width: 640, height: 480, meta: &PhotoMeta::default(), video: None, motion_ms: None };
                    w.upsert(&image, &source.next(), appender, 0)?;
                }
                w.bump_generation()
            })
            .unwrap();
    }
    catalog
}

fn vectors(n: usize) {
    let clip = load_clip();
    let dir = work_dir();
    println!("## {n} vectors");
    let t = Instant::now();
    let mut catalog = write_library(dir.path(), &clip, n, |i| (format!("synthetic/{:04}/{i:08}.jpg", i / 1000), 1, 1));
    println!("write catalog + vector file: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let built = snapshot::maintain(&mut catalog, dir.path(), DIM, &FactoryChoice::Auto, &IndexPolicy::default()).unwrap();
    println!(
        "build vector index: {:.1} s ({}, nprobe {:?}, {:?} re-ranked, recall@10 when trained {:?})",
        t.elapsed().as_secs_f64(),
        built.factory,
        built.nprobe,
        built.depth,
        built.recall
    );
    disk(dir.path(), n);
    run_probe(dir.path(), "fresh");

    // One incremental change: 1,000 photos added, then 1,000 removed, each committed and
    // maintained as `clipfind index` does.
    let mut appender = VectorAppender::open(
        &dir.path().join(catalog.meta(FILE_KEY).unwrap().unwrap()),
        catalog.meta(SLOTS_KEY).unwrap().unwrap().parse().unwrap(),
        DIM,
    )
    .unwrap();
    let mut source = Vectors::new(0xDEAD_BEEF);
    let t = Instant::now();
    catalog
        .write_vectors(&mut appender, |w, appender| {
            for i in 0..1000 {
                let (path, hash) = (format!("added/{i:04}.jpg"), format!("a{i:031x}"));
                w.upsert(&NewImage { path: &path, size: 1, mtime_ns: 1, hash: &hash, width: 1, height: 1, meta: &PhotoMeta::default(), video: None, motion_ms: None }, &source.next(), appender, 0)?;
            }
            w.bump_generation()
        })
        .unwrap();
    let kept = snapshot::maintain(&mut catalog, dir.path(), DIM, &FactoryChoice::Auto, &IndexPolicy::default()).unwrap();
    println!("add 1,000: {:.0} ms (snapshot rewritten: {}, {}, nprobe {:?})", t.elapsed().as_secs_f64() * 1e3, kept.written, kept.factory, kept.nprobe);
    let ids: Vec<i64> = catalog.slots().unwrap().iter().map(|p| p.0).step_by(n / 1000).take(1000).collect();
    let t = Instant::now();
    catalog
        .write(|w| {
            for id in &ids {
                w.delete(*id)?;
            }
            w.bump_generation()
        })
        .unwrap();
    let kept = snapshot::maintain(&mut catalog, dir.path(), DIM, &FactoryChoice::Auto, &IndexPolicy::default()).unwrap();
    println!("remove 1,000: {:.0} ms (snapshot rewritten: {})", t.elapsed().as_secs_f64() * 1e3, kept.written);
    run_probe(dir.path(), "after the changes (replayed from the log at load)");
}

fn disk(dir: &Path, n: usize) {
    let mut total = 0;
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let len = entry.metadata().unwrap().len();
        total += len;
        parts.push(format!("{} {:.0} MB", entry.file_name().to_string_lossy(), len as f64 / 1e6));
    }
    parts.sort();
    println!("disk: {:.2} GB = {:.0} B per image ({})", total as f64 / 1e9, total as f64 / n as f64, parts.join(", "));
}

/// Measures in a fresh process, so ready time and memory are what `clipfind serve` would see.
fn run_probe(dir: &Path, label: &str) {
    let out = Command::new(std::env::current_exe().unwrap()).arg("--probe").arg(dir).output().unwrap();
    assert!(out.status.success(), "probe: {}", String::from_utf8_lossy(&out.stderr));
    println!("{label}:\n{}", String::from_utf8_lossy(&out.stdout).trim_end());
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap();
    kb / 1024.0
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    format!("p50 {:.2} ms, p99 {:.2} ms", at(0.5), at(0.99))
}

fn probe(dir: &Path) {
    let clip = load_clip();
    let model_mb = rss_mb();
    let t = Instant::now();
    let searcher = Searcher::open(dir, clip).unwrap();
    let ready = t.elapsed();
    let stats = searcher.stats().clone();
    println!(
        "  ready in {:.2} s: {} images, {} ({} logged changes replayed); resident {:.0} MB ({:.0} MB before opening: model and runtime)",
        ready.as_secs_f64(),
        stats.images,
        stats.factory,
        stats.replayed_changes,
        rss_mb(),
        model_mb
    );

    let params = SearchParams { k: 10, min_score: -1.0, ..Default::default() };
    let mut times = Vec::new();
    for i in 0..100 {
        let t = Instant::now();
        searcher.search_text(&format!("photo number {i} of a dog on a bench"), params).unwrap();
        times.push(t.elapsed());
    }
    println!("  end to end with the text encoder ({}), new query each time: {}", searcher.stats().model, percentiles(times));
    println!("  resident after the text queries: {:.0} MB", rss_mb());

    // Queries near the library's photos (as an image query, or a text query that matches a
    // group of photos, is) and random directions (far from everything: the worst case).
    let mut source = Vectors::new(0x5151);
    let near: Vec<f32> = (0..200).flat_map(|_| source.unit(0.08, Some((source.state % 1000) as usize))).collect();
    let random: Vec<f32> = (0..200).flat_map(|_| source.unit(1.0, None)).collect();
    let mut found = Vec::new();
    for (label, queries) in [("near photos", &near), ("random directions", &random)] {
        let mut times = Vec::new();
        let mut ids = Vec::new();
        for q in queries.chunks(DIM) {
            let t = Instant::now();
            let hits = searcher.search_vector(q, params, None).unwrap();
            times.push(t.elapsed());
            ids.push(hits.iter().map(|h| h.id).collect::<Vec<_>>());
        }
        println!("  vector search, k=10, {label}: {}", percentiles(times));
        found.push((label, queries, ids));
    }
    println!("  resident after the queries: {:.0} MB", rss_mb());

    let catalog = Catalog::open_read_only(dir).unwrap();
    let committed = Committed::read(&catalog).unwrap();
    let mapped = committed.map(dir, DIM).unwrap();
    let mut pairs = committed.pairs.clone();
    pairs.sort_unstable();
    for (label, queries, ids) in found {
        let truth = snapshot::exact_top(&pairs, &mapped, queries, 10).unwrap();
        let hits: usize = ids.iter().zip(&truth).map(|(f, t)| f.iter().filter(|id| t.contains(id)).count()).sum();
        println!("  recall@10 against exact search, {label}: {:.3}", hits as f64 / (10 * truth.len()) as f64);
    }
}

/// `clipfind index` over `n` real files when nothing changed, and after one new photo.
fn files(n: usize) {
    let clip = load_clip();
    let work = work_dir();
    let data = work.path().join("photos");
    let index = work.path().join("index");
    std::fs::create_dir_all(&index).unwrap();
    let t = Instant::now();
    let mut stamps = Vec::with_capacity(n);
    for i in 0..n {
        let folder = data.join(format!("{:04}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&folder).unwrap();
        }
        let file = folder.join(format!("{i:08}.jpg"));
        std::fs::write(&file, b"").unwrap();
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        stamps.push(modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64);
    }
    println!("## {n} real files: made in {:.0} s", t.elapsed().as_secs_f64());
    let mut catalog = write_library(&index, &clip, n, |i| (format!("{:04}/{i:08}.jpg", i / 1000), 0, stamps[i]));
    catalog.set_meta("data_root", &data.to_string_lossy()).unwrap();
    snapshot::maintain(&mut catalog, &index, DIM, &FactoryChoice::Auto, &IndexPolicy::default()).unwrap();
    drop(catalog);
    let clipfind = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/clipfind");
    let run = |label: &str| {
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let out = Command::new(&clipfind)
                .args(["index", "--quiet", "--no-thumbnails", "--data"])
                .arg(&data)
                .arg("--index")
                .arg(&index)
                .env("CLIPFIND_MODEL", model())
                .env("CLIPFIND_DEVICE", "cpu")
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            times.push(t.elapsed());
            if label != "nothing changed" {
                break;
            }
        }
        println!("clipfind index, {label}: {}", percentiles(times));
    };
    run("nothing changed");
    let photo = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
    photo.save(data.join("0000/new-photo.jpg")).unwrap();
    run("one new photo");
    if std::env::var_os("CLIPFIND_BENCH_KEEP").is_some() {
        println!("kept: {}", work.keep().display());
    }
}
