//! The words in images: a labelled set (scripts/make-ocr-set.py: screenshots, receipts, signs,
//! posters, slides and documents in English and Chinese, some blurred, rotated, in small print
//! or low contrast, among look-alikes without words) indexed by the real binary with Tesseract,
//! searched through the CLI and the HTTP API in one ranked list with CLIP.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::Value;

use crate::{
    indexing::{clipfind, index, root, tiny},
    live::{get, serve_model},
};

/// One image of the set, as labels.json lists it.
struct Labelled {
    file: String,
    queries: Vec<String>,
}

/// The set, generated once per test run (deterministic) into a folder kept to the end.
fn set() -> &'static (PathBuf, Vec<Labelled>) {
    static SET: OnceLock<(PathBuf, Vec<Labelled>)> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap())).path().join("ocr-set");
        let status = Command::new(python()).arg(root().join("scripts/make-ocr-set.py")).arg(&dir).status().expect("python runs");
        assert!(status.success(), "scripts/make-ocr-set.py");
        let labels: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(dir.join("labels.json")).unwrap()).unwrap();
        std::fs::remove_file(dir.join("labels.json")).unwrap();
        let labelled = labels
            .iter()
            .map(|l| Labelled {
                file: l["file"].as_str().unwrap().to_string(),
                queries: l["queries"].as_array().unwrap().iter().map(|q| q.as_str().unwrap().to_string()).collect(),
            })
            .collect();
        (dir, labelled)
    })
}

/// The Python with Pillow, from the virtual environment scripts/setup.sh makes.
fn python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("clipfind/dng-tools/bin/python")
}

/// A copy of the set, indexed with the random-weights test model (CLIP's ranking is noise, so
/// whatever finds a text query's image does so by its words).
fn indexed_copy() -> tempfile::TempDir {
    let (dir, _) = set();
    let data = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.path().join(entry.file_name())).unwrap();
    }
    let summary = index(data.path(), &[]);
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 0, "{summary:#}");
    assert!(summary["words_read"].as_u64().unwrap() >= set().1.len() as u64, "{summary:#}");
    data
}

fn search(data: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search", "--json", "--min-score", "-1"];
    all.extend_from_slice(args);
    let out = clipfind(data, &tiny(), &all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn paths(hits: &[Value]) -> Vec<&str> {
    hits.iter().map(|h| h["path"].as_str().unwrap()).collect()
}

#[test]
fn text_queries_find_their_image_first_with_a_random_weights_model() {
    let data = indexed_copy();
    let (_, labelled) = set();
    let (mut queries, mut first, mut in_five) = (0, 0, 0);
    let mut missed = Vec::new();
    for image in labelled {
        for query in &image.queries {
            let hits = search(data.path(), &["-k", "5", query]);
            let rank = paths(&hits).iter().position(|p| *p == image.file);
            queries += 1;
            first += usize::from(rank == Some(0));
            in_five += usize::from(rank.is_some());
            if rank != Some(0) {
                missed.push(format!("{query:?} ({}): {:?}", image.file, paths(&hits)));
            }
        }
    }
    let (recall_1, recall_5) = (first as f64 / queries as f64, in_five as f64 / queries as f64);
    eprintln!("OCR set: {queries} text queries, recall@1 {recall_1:.3}, recall@5 {recall_5:.3}; not first: {missed:#?}");
    assert!(queries >= 30, "{queries} queries");
    assert!(recall_1 >= 0.85, "recall@1 {recall_1:.3}: {missed:#?}");
    assert!(recall_5 >= 0.9, "recall@5 {recall_5:.3}: {missed:#?}");
}

#[test]
fn the_presence_test_picks_the_images_with_words_and_few_look_alikes() {
    let (dir, labelled) = set();
    let picked = |with_words: bool| -> (usize, usize) {
        let images: Vec<&Labelled> = labelled.iter().filter(|i| i.queries.is_empty() != with_words).collect();
        let picked = images.iter().filter(|i| clipfind_engine::media::ocr::likely_text(&image::open(dir.join(&i.file)).unwrap())).count();
        (picked, images.len())
    };
    let ((words_picked, with_words), (look_alikes_picked, look_alikes)) = (picked(true), picked(false));
    eprintln!("presence test: {words_picked} of {with_words} images with words, {look_alikes_picked} of {look_alikes} look-alikes");
    // What it passes over is never read: one miss at most (the blurred white-on-green sign).
    assert!(words_picked + 1 >= with_words, "{words_picked} of {with_words} images with words picked");
    // A look-alike it picks costs a reading that finds nothing: a few, not most.
    assert!(look_alikes_picked * 4 <= look_alikes, "{look_alikes_picked} of {look_alikes} look-alikes picked");
}

#[test]
fn look_alikes_have_no_words_and_matches_say_why() {
    let data = indexed_copy();
    let (_, labelled) = set();
    let catalog = clipfind_engine::catalog::Catalog::open_read_only(&data.path().join(".clipfind")).unwrap();
    for image in labelled.iter().filter(|i| i.queries.is_empty()) {
        let row = catalog.image_at(&image.file).unwrap().unwrap();
        assert_eq!(catalog.words_of(row.id).unwrap(), None, "{} has no words", image.file);
    }
    // A found image says it matched by its words, and where.
    let image = labelled.iter().find(|i| i.queries.iter().any(|q| q.contains(' ') && q.is_ascii())).expect("an English query of two words");
    let query = image.queries.iter().find(|q| q.contains(' ') && q.is_ascii()).unwrap();
    let hits = search(data.path(), &["--ocr-only", query]);
    assert_eq!(paths(&hits).first(), Some(&image.file.as_str()), "{query}: {hits:#?}");
    assert!(hits.iter().all(|h| h["matched"].as_array().unwrap().iter().all(|m| m == "words")), "--ocr-only: {hits:#?}");
    let snippet = &hits[0]["words"]["snippet"];
    let text = snippet["text"].as_str().unwrap();
    let marked: Vec<String> = snippet["marks"].as_array().unwrap().iter().map(|m| text[m[0].as_u64().unwrap() as usize..m[1].as_u64().unwrap() as usize].to_lowercase()).collect();
    for word in query.split(' ') {
        assert!(marked.iter().any(|m| m.contains(&word.to_lowercase())), "{word} marked in {snippet:#}");
    }
    // The grammar: a quoted phrase must be there whole; -word leaves out images holding it.
    let first_word = query.split(' ').next().unwrap();
    let reversed: String = query.split(' ').rev().collect::<Vec<_>>().join(" ");
    assert!(!paths(&search(data.path(), &["--ocr-only", &format!("\"{reversed}\"")])).contains(&image.file.as_str()), "the phrase reversed is not in it");
    let without = search(data.path(), &["--ocr-only", &format!("{query} -{first_word}")]);
    assert!(!paths(&without).contains(&image.file.as_str()), "-{first_word}: {without:#?}");
    // Without words read, the same query finds it only by chance (CLIP is noise here).
    let pictures = search(data.path(), &["--match", "pictures", "-k", "1", query]);
    assert!(pictures[0]["matched"] == serde_json::json!(["picture"]), "{pictures:#?}");
}

#[test]
fn words_are_in_the_api_and_go_with_their_file() {
    let data = indexed_copy();
    let (_, labelled) = set();
    let image = labelled.iter().find(|i| i.queries.iter().any(|q| !q.is_ascii())).expect("a Chinese query");
    let query = image.queries.iter().find(|q| !q.is_ascii()).unwrap();
    let server = serve_model(data.path(), &tiny(), &[]);
    let url = |q: &str, extra: &str| format!("{}/api/search?q={}{extra}", server.url, percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC));
    let (status, reply) = get(&url(query, ""));
    assert_eq!(status, 200, "{reply:#}");
    let hit = &reply["hits"][0];
    assert_eq!(hit["path"], image.file.as_str(), "{reply:#}");
    assert!(hit["matched"].as_array().unwrap().contains(&"words".into()), "{hit:#}");
    let read = hit["words"]["text"].as_str().unwrap().split_whitespace().collect::<String>();
    assert!(read.contains(&query.split_whitespace().collect::<String>()), "{hit:#}");
    let (status, bad) = get(&url(query, "&match=everything"));
    assert_eq!(status, 400, "{bad:#}");
    drop(server);
    // Removed: its words are gone from the catalog with it.
    std::fs::remove_file(data.path().join(&image.file)).unwrap();
    index(data.path(), &[]);
    let hits = search(data.path(), &["--ocr-only", query]);
    assert!(!paths(&hits).contains(&image.file.as_str()), "{hits:#?}");
    let catalog = clipfind_engine::catalog::Catalog::open_read_only(&data.path().join(".clipfind")).unwrap();
    assert_eq!(catalog.words_progress().unwrap().waiting, 0);
}

#[test]
fn without_ocr_nothing_is_read_and_pictures_still_search() {
    let (dir, labelled) = set();
    let data = tempfile::tempdir().unwrap();
    let text_image = labelled.iter().find(|i| !i.queries.is_empty()).unwrap();
    std::fs::copy(dir.join(&text_image.file), data.path().join(&text_image.file)).unwrap();
    let summary = index(data.path(), &["--no-ocr"]);
    assert_eq!(summary["words_read"], 0, "{summary:#}");
    // Missing models are a warning in the summary, not a failed run; the next run reads them.
    let out = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--json", "--ocr-data", "/nonexistent"])
        .arg("--data")
        .arg(data.path())
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .env_remove("CLIPFIND_INDEX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["words_not_read"].as_str().unwrap().contains("no Tesseract model"), "{summary:#}");
    let summary = index(data.path(), &[]);
    assert_eq!(summary["words_read"], 1, "{summary:#}");
    assert_eq!(summary["with_words"], 1, "{summary:#}");
}
