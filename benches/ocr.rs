//! What reading the words in images costs, and what fusing them into the ranking costs a search.
//!
//! 1. Indexing photos without words (the samples/ photos at 640x480 and 12 MP, JPEG q90), whole
//!    `clipfind index` runs with the demo model and 2 threads, with and without OCR: images/s
//!    and their ratio (the aim: OCR on costs at most a fifth).
//! 2. Per image: the text-presence test on photos without words, and Tesseract on the labelled
//!    set's images with words (scripts/make-ocr-set.py), in milliseconds.
//! 3. Search latency at 100,000 images (synthetic vectors; one in ten with words), text queries
//!    through `search_query`: the pictures alone against the fused list, p50 and p99.
//! 4. The fusion's weights swept on one library holding both labelled sets (the demo model's
//!    shapes with their CLIP queries, and the OCR set with its text queries): recall@1 and MRR
//!    of each kind of query for each setting, and the pictures alone.
//!
//!   cargo bench --no-default-features --features ssr --bench ocr

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

mod common;

use clipfind_engine::{
    catalog::{filter::Filter, Catalog},
    clip::{Clip, ClipOptions},
    ingest::indexer::{self, IndexOptions},
    media::ocr::{self, OcrOptions, Reader},
    search::{
        evaluate::EvalSet,
        fusion::Fusion,
        searcher::{Matching, SearchParams, Searcher},
    },
};

const PHOTOS: usize = 48;
const ROUNDS: usize = 9;
const LIBRARY: usize = 100_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = Clip::load(&root.join("models/clipfind-demo"), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).unwrap();
    indexing_with_and_without(&demo);
    per_image(root);
    fused_search_latency(root);
    fusion_weights(root);
}

fn indexing_with_and_without(clip: &Clip) {
    println!("indexing {PHOTOS} photos without words (demo model, 2 threads, median of {ROUNDS} runs each, in turns):");
    for (label, mp) in [("640x480", 0), ("12 MP", 12)] {
        let photos = tempfile::tempdir().unwrap();
        for (i, source) in common::sample_photos().iter().cycle().take(PHOTOS).enumerate() {
            let bytes = match mp {
                0 => small_jpeg(source, i as u32),
                mp => common::photo_like(source, mp, 300 + i as u32),
            };
            std::fs::write(photos.path().join(format!("photo-{i:02}.jpg")), bytes).unwrap();
        }
        let rate = |ocr: Option<OcrOptions>| {
            let index = tempfile::tempdir().unwrap();
            let options = IndexOptions { ocr, ..IndexOptions::new(photos.path().to_path_buf(), index.path().to_path_buf()) };
            let started = Instant::now();
            let summary = indexer::run(clip, &options).unwrap();
            assert_eq!(summary.embedded, PHOTOS);
            PHOTOS as f64 / started.elapsed().as_secs_f64()
        };
        // Taken in turns, so that the machine's drift falls on both alike.
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            without.push(rate(None));
            with.push(rate(Some(OcrOptions::default())));
        }
        let (without, with) = (median(without), median(with));
        println!("  {label:>8}: without OCR {without:6.2} images/s, with OCR {with:6.2} images/s: {:.2}x", with / without);
    }
}

/// A sample photo at 640x480, JPEG at q90 and below: each round of the samples one step lower,
/// so no two files are the same.
fn small_jpeg(source: &image::RgbImage, seed: u32) -> Vec<u8> {
    let small = image::imageops::resize(source, 640, 480, image::imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut std::io::Cursor::new(&mut bytes), 90 - (seed / 7 % 20) as u8).encode_image(&small).unwrap();
    bytes
}

fn per_image(root: &Path) {
    let photos: Vec<image::DynamicImage> = common::sample_photos().into_iter().map(image::DynamicImage::ImageRgb8).collect();
    let picked = photos.iter().filter(|p| ocr::likely_text(p)).count();
    let presence: Vec<f64> = (0..5).flat_map(|_| photos.iter().map(|p| timed(|| ocr::likely_text(p)))).collect();
    println!("text-presence test on {} sample photos without words: {:.2} ms median, {picked} picked for reading", photos.len(), median(presence));
    let set = tempfile::tempdir().unwrap();
    let labels = ocr_set(root, set.path());
    let mut reader = Reader::open(&OcrOptions::default()).unwrap();
    let (mut with, mut without, mut picked_with, mut picked_without) = (Vec::new(), Vec::new(), 0, 0);
    for label in &labels {
        let image = image::open(set.path().join(label["file"].as_str().unwrap())).unwrap();
        let has_words = !label["queries"].as_array().unwrap().is_empty();
        // What indexing pays: the presence test, and Tesseract where it says so.
        let mut likely = false;
        let ms = timed(|| {
            likely = ocr::likely_text(&image);
            if likely { reader.read(&image).text.len() } else { 0 }
        });
        match has_words {
            true => (with.push(ms), picked_with += usize::from(likely)),
            false => (without.push(ms), picked_without += usize::from(likely)),
        };
    }
    println!("labelled set, per image (presence test + Tesseract where it says so): {} with words ({picked_with} picked) {:.0} ms median, {} look-alikes ({picked_without} picked) {:.1} ms median",
        with.len(), median(with), without.len(), median(without));
}

fn timed<T>(f: impl FnOnce() -> T) -> f64 {
    let started = Instant::now();
    std::hint::black_box(f());
    started.elapsed().as_secs_f64() * 1e3
}

fn python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("clipfind/dng-tools/bin/python")
}

fn fused_search_latency(root: &Path) {
    let model = root.join("models/test-tiny");
    let dir = tempfile::tempdir().unwrap();
    common::synthetic_index(dir.path(), &common::load(&model), LIBRARY);
    let vocabulary = ["total", "invoice", "receipt", "exit", "gate", "meeting", "password", "station", "出口", "北京南站", "营业时间", "menu", "price", "date", "wifi"];
    let mut catalog = Catalog::open(dir.path()).unwrap();
    catalog
        .write(|w| {
            for id in (1..=LIBRARY as i64).step_by(10) {
                let words: Vec<&str> = (0..12).map(|j| vocabulary[((id as usize * 7 + j * 13) ^ j) % vocabulary.len()]).collect();
                w.set_words(id, &format!("{} no.{id}", words.join(" ")), "bench")?;
            }
            Ok(())
        })
        .unwrap();
    drop(catalog);
    let searcher = Searcher::open(dir.path(), common::load(&model)).unwrap();
    let queries = ["invoice total", "wifi password", "北京南站 出口", "a dog on a bench", "sunset over the sea", "no.45671", "gate b17", "menu price"];
    // The text encoder's cache is warmed first: what is measured is the lookup and the fusion.
    for q in queries {
        searcher.search_query(q, SearchParams::default(), &Filter::default(), None).unwrap();
    }
    println!("search at {LIBRARY} images ({} with words; {}; text embeddings cached):", LIBRARY / 10, searcher.stats().factory);
    for (label, matching) in [("pictures alone", Matching::Pictures), ("fused", Matching::Everything), ("words only", Matching::Words)] {
        let params = SearchParams { k: 30, min_score: -1.0, matching, ..Default::default() };
        let mut took: Vec<Duration> = (0..200)
            .map(|i| {
                let started = Instant::now();
                searcher.search_query(queries[i % queries.len()], params, &Filter::default(), None).unwrap();
                started.elapsed()
            })
            .collect();
        println!("  {label:>14}: p50 {:6.2} ms  p99 {:6.2} ms", percentile(&mut took, 0.5), percentile(&mut took, 0.99));
    }
}

/// The labelled OCR set written into `dir` by scripts/make-ocr-set.py, and its labels.
fn ocr_set(root: &Path, dir: &Path) -> Vec<serde_json::Value> {
    let status = Command::new(python()).arg(root.join("scripts/make-ocr-set.py")).arg(dir).status().unwrap();
    assert!(status.success());
    serde_json::from_str(&std::fs::read_to_string(dir.join("labels.json")).unwrap()).unwrap()
}

/// A query and the library paths that answer it.
struct Asked {
    text: String,
    relevant: Vec<String>,
}

fn fusion_weights(root: &Path) {
    let library = tempfile::tempdir().unwrap();
    let (shapes, words) = (library.path().join("shapes"), library.path().join("ocr"));
    std::fs::create_dir_all(&shapes).unwrap();
    for entry in std::fs::read_dir(root.join("samples/shapes")).unwrap().flatten() {
        std::fs::copy(entry.path(), shapes.join(entry.file_name())).unwrap();
    }
    let shape_queries: Vec<Asked> = (EvalSet::load(&shapes).unwrap().manifest.text_queries.iter())
        .map(|q| Asked { text: q.text.clone(), relevant: q.relevant.iter().map(|f| format!("shapes/{f}")).collect() })
        .collect();
    std::fs::remove_file(shapes.join("eval.json")).unwrap();
    let labels = ocr_set(root, &words);
    std::fs::remove_file(words.join("labels.json")).unwrap();
    let word_queries: Vec<Asked> = (labels.iter())
        .flat_map(|l| l["queries"].as_array().unwrap().iter().map(move |q| Asked { text: q.as_str().unwrap().into(), relevant: vec![format!("ocr/{}", l["file"].as_str().unwrap())] }))
        .collect();
    let index = tempfile::tempdir().unwrap();
    let demo = root.join("models/clipfind-demo");
    indexer::run(&common::load(&demo), &IndexOptions::new(library.path().to_path_buf(), index.path().to_path_buf())).unwrap();
    let searcher = Searcher::open(index.path(), common::load(&demo)).unwrap();
    // Recall@1 and MRR over the top 10.
    let figures = |queries: &[Asked], params: SearchParams| {
        let ranks: Vec<Option<usize>> = (queries.iter())
            .map(|q| searcher.search_query(&q.text, params, &Filter::default(), None).unwrap().iter().position(|h| q.relevant.contains(&h.path)))
            .collect();
        let first = ranks.iter().filter(|r| **r == Some(0)).count() as f64 / ranks.len() as f64;
        let mrr = ranks.iter().map(|r| r.map_or(0.0, |r| 1.0 / (r as f64 + 1.0))).sum::<f64>() / ranks.len() as f64;
        (first, mrr)
    };
    println!("fusion weights on one library of both labelled sets (400 shapes, 53 OCR images; demo model; {} shape queries, {} text queries):", shape_queries.len(), word_queries.len());
    println!("  {:<34} {:>17} {:>17}", "setting", "shapes r@1 / MRR", "words r@1 / MRR");
    let base = SearchParams { k: 10, min_score: -1.0, ..Default::default() };
    let mut settings = vec![("pictures alone".to_string(), SearchParams { matching: Matching::Pictures, ..base })];
    for (k, words, names) in [(60.0, 0.5, 1.0), (60.0, 1.0, 1.0), (60.0, 2.0, 1.0), (60.0, 4.0, 1.0), (60.0, 2.0, 0.5), (60.0, 2.0, 2.0), (20.0, 2.0, 1.0), (120.0, 2.0, 1.0)] {
        let fusion = Fusion { k, words, names, ..Fusion::default() };
        let mark = if fusion == Fusion::default() { " (default)" } else { "" };
        settings.push((format!("K {k}, words {words}, names {names}{mark}"), SearchParams { fusion, ..base }));
    }
    for (label, params) in settings {
        let ((s1, smrr), (w1, wmrr)) = (figures(&shape_queries, params), figures(&word_queries, params));
        println!("  {label:<34} {s1:>8.3} / {smrr:.3} {w1:>8.3} / {wmrr:.3}");
    }
}
