//! Indexing end to end through the `clipfind` binary on generated folders (nested folders, mixed
//! formats, corrupt files, duplicates, unicode names), with the committed test-tiny model.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use clipfind_engine::{
    catalog::Catalog,
    clip::{Clip, ClipOptions},
    search::searcher::{SearchParams, Searcher},
    store::snapshot::Committed,
};
use serde_json::Value;

pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn tiny() -> PathBuf {
    root().join("models/test-tiny")
}

pub(crate) fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

pub(crate) fn clipfind(data: &Path, model: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("CLIPFIND_MODEL", model)
        .env("CLIPFIND_DEVICE", "cpu")
        .env_remove("CLIPFIND_INDEX")
        .output()
        .unwrap()
}

/// Runs `clipfind index --json` and returns the summary.
pub(crate) fn index(data: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["index", "--json"];
    args.extend_from_slice(extra);
    let out = clipfind(data, &tiny(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn copy(from: &str, data: &Path, to: &str) {
    let target = data.join(to);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(fixture(from), target).unwrap();
}

/// 12 good images (one a byte-identical duplicate) in nested folders, 4 broken files, a text
/// file and a hidden folder.
fn photo_folder() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    copy("images/photo.jpg", p, "photo.jpg");
    copy("images/portrait.jpg", p, "people/portrait.JPG");
    copy("images/wide.png", p, "trips/2024/wide.png");
    copy("images/lossy.webp", p, "trips/2024/été à Zürich.webp");
    copy("images/palette.gif", p, "anim/palette.gif");
    copy("images/bitmap.bmp", p, "old/bitmap.bmp");
    copy("images/scan.tiff", p, "old/scan.TIFF");
    copy("images/rgba.png", p, "rgba.png");
    copy("images/gray.png", p, "gray.png");
    copy("images/cmyk.jpg", p, "print/cmyk.jpg");
    copy("images/exif-rotated.jpg", p, "people/写真.jpg");
    copy("images/photo.jpg", p, "backup/photo copy.jpg");
    copy("broken/truncated.jpg", p, "broken/truncated.jpg");
    copy("broken/zero-bytes.jpg", p, "broken/zero.jpg");
    copy("broken/garbage.png", p, "broken/garbage.png");
    copy("broken/header-bomb.png", p, "broken/bomb.png");
    copy("broken/aspect-bomb.png", p, "broken/aspect-bomb.png");
    copy("images/photo.jpg", p, ".hidden/secret.jpg");
    std::fs::write(p.join("notes.txt"), "not an image").unwrap();
    d
}

pub(crate) fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v:#}"))
}

#[test]
fn counts_are_right_and_a_second_run_embeds_nothing() {
    let d = photo_folder();
    let first = index(d.path(), &[]);
    assert_eq!(n(&first, "total"), 12, "{first:#}");
    assert_eq!(n(&first, "new"), 11);
    assert_eq!(n(&first, "duplicates"), 1);
    assert_eq!(n(&first, "embedded"), 11, "the duplicate reuses the embedding");
    let skipped: Vec<&str> = first["skipped"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(skipped.len(), 5, "{skipped:?}");
    assert!(skipped.contains(&"broken/bomb.png"));
    let aspect = first["skipped"].as_array().unwrap().iter().find(|s| s["path"] == "broken/aspect-bomb.png").unwrap();
    assert!(aspect["reason"].as_str().unwrap().contains("sides differ more than 256 times"), "{aspect}");
    assert!(d.path().join(".clipfind/vectors-1.f32").is_file());
    assert_eq!(first["vector_index"]["factory"], "Flat", "a small library is searched exactly");

    let second = index(d.path(), &[]);
    assert_eq!((n(&second, "embedded"), n(&second, "new"), n(&second, "unchanged")), (0, 0, 12), "{second:#}");
    assert_eq!(second["vectors_written"], false, "a no-op run leaves the index alone");
    assert_eq!(second["skipped"].as_array().unwrap().len(), 5, "broken files are remembered, not retried");
}

#[test]
fn a_file_over_the_size_limit_is_skipped_unread() {
    let d = tempfile::tempdir().unwrap();
    copy("images/photo.jpg", d.path(), "photo.jpg");
    // Sparse: 3 GB long, no disk used; read whole it would take 3 GB of memory.
    std::fs::File::create(d.path().join("huge.jpg")).unwrap().set_len(3 << 30).unwrap();
    let s = index(d.path(), &["--max-file-mb", "64"]);
    assert_eq!(n(&s, "total"), 1, "{s:#}");
    let skipped = &s["skipped"].as_array().unwrap()[..];
    assert_eq!(skipped.len(), 1, "{s:#}");
    assert_eq!(skipped[0]["path"], "huge.jpg");
    assert_eq!(skipped[0]["reason"], "the file is larger than the 64 MB limit");
}

#[test]
fn copies_of_a_broken_file_are_all_reported_the_same_on_every_run() {
    let d = tempfile::tempdir().unwrap();
    for name in ["a.jpg", "b.jpg", "c.jpg"] {
        std::fs::write(d.path().join(name), "a text file, not a JPEG").unwrap();
    }
    copy("images/photo.jpg", d.path(), "photo.jpg");
    for run in 0..3 {
        let s = index(d.path(), &[]);
        let mut skipped: Vec<&str> = s["skipped"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
        skipped.sort_unstable();
        assert_eq!(skipped, ["a.jpg", "b.jpg", "c.jpg"], "run {run}: {s:#}");
        assert_eq!((n(&s, "total"), n(&s, "duplicates")), (1, 0), "run {run}: {s:#}");
    }
}

#[test]
fn edits_additions_deletions_and_renames_do_the_minimum() {
    let d = photo_folder();
    index(d.path(), &[]);
    let p = d.path();

    // Edit: different content at the same path.
    std::fs::copy(fixture("images/huge.jpg"), p.join("gray.png")).unwrap();
    let s = index(p, &[]);
    assert_eq!((n(&s, "changed"), n(&s, "embedded"), n(&s, "total")), (1, 1, 12), "{s:#}");

    // Add one new image and one more copy of an indexed one.
    copy("images/tiny.png", p, "new/tiny.png");
    copy("images/wide.png", p, "new/wide again.png");
    let s = index(p, &[]);
    assert_eq!((n(&s, "new"), n(&s, "duplicates"), n(&s, "embedded"), n(&s, "total")), (1, 1, 1, 14), "{s:#}");

    // Rename and move: recognised by content, nothing re-embedded.
    std::fs::rename(p.join("old/bitmap.bmp"), p.join("moved-bitmap.bmp")).unwrap();
    let s = index(p, &[]);
    assert_eq!((n(&s, "renamed"), n(&s, "embedded"), n(&s, "removed"), n(&s, "total")), (1, 0, 0, 14), "{s:#}");

    // Delete.
    std::fs::remove_file(p.join("rgba.png")).unwrap();
    let s = index(p, &[]);
    assert_eq!((n(&s, "removed"), n(&s, "embedded"), n(&s, "total")), (1, 0, 13), "{s:#}");

    // A broken file that gets fixed is picked up.
    std::fs::copy(fixture("images/photo.jpg"), p.join("broken/truncated.jpg")).unwrap();
    let s = index(p, &[]);
    assert_eq!((n(&s, "new"), n(&s, "duplicates")), (0, 1), "{s:#}");

    let catalog = Catalog::open_read_only(&p.join(".clipfind")).unwrap();
    let paths: Vec<String> = catalog.images().unwrap().into_iter().map(|r| r.path).collect();
    assert!(paths.contains(&"moved-bitmap.bmp".to_string()) && !paths.contains(&"old/bitmap.bmp".to_string()));
    assert!(paths.contains(&"trips/2024/été à Zürich.webp".to_string()));
    assert!(!paths.iter().any(|p| p.starts_with(".hidden")));
}

#[test]
fn search_results_equal_a_brute_force_scan_of_the_stored_vectors() {
    let d = photo_folder();
    index(d.path(), &[]);
    let index_dir = d.path().join(".clipfind");
    let clip = Clip::load(&tiny(), ClipOptions { device: "cpu".parse().unwrap(), threads: 1, ..Default::default() }).unwrap();
    let query = clip.embed_text("a red square on a blue background").unwrap();

    let catalog = Catalog::open_read_only(&index_dir).unwrap();
    let committed = Committed::read(&catalog).unwrap();
    let vectors = committed.map(&index_dir, 512).unwrap();
    let mut brute: Vec<(i64, f32)> = (committed.pairs.iter())
        .map(|&(id, slot)| (id, vectors.vector(slot, id).unwrap().iter().zip(&query).map(|(a, b)| a * b).sum()))
        .collect();
    brute.sort_by(|a, b| b.1.total_cmp(&a.1));

    let searcher = Searcher::open(&index_dir, clip).unwrap();
    let hits = searcher.search_text("a red square on a blue background", SearchParams { k: 12, min_score: -1.0, ..Default::default() }).unwrap();
    assert_eq!(hits.len(), 12);
    for (hit, (id, score)) in hits.iter().zip(&brute) {
        assert!((hit.score - score).abs() < 1e-5, "{hit:?} vs {id} {score}");
    }
    let got: std::collections::HashSet<i64> = hits.iter().map(|h| h.id).collect();
    assert_eq!(got, brute.iter().map(|b| b.0).collect());

    // The CLI prints the same ranking in the seed's format.
    let out = clipfind(d.path(), &tiny(), &["search", "a red square on a blue background", "-k", "3", "--min-score", "-1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], format!("{} | similarity: {:.4}", hits[0].path, hits[0].score));
}

#[test]
fn json_search_image_search_and_more_like_this() {
    let d = photo_folder();
    index(d.path(), &[]);
    let out = clipfind(d.path(), &tiny(), &["search", "anything", "--json", "-k", "50", "--min-score", "-1"]);
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 12);
    // Fields in the documented order: path, score, width, height.
    let raw = String::from_utf8_lossy(&out.stdout);
    let at = |key: &str| raw.find(&format!("\"{key}\"")).unwrap();
    assert!(at("path") < at("score") && at("score") < at("width") && at("width") < at("height"), "{raw}");

    // An image file finds its own indexed copy first, at similarity ~1.
    let out = clipfind(d.path(), &tiny(), &["search", "--image", fixture("images/cmyk.jpg").to_str().unwrap(), "--json", "-k", "1"]);
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["path"], "print/cmyk.jpg");
    assert!(hits[0]["score"].as_f64().unwrap() > 0.9999);

    // --like: the byte-identical duplicate comes first, the image itself is left out.
    let out = clipfind(d.path(), &tiny(), &["search", "--like", "photo.jpg", "--json", "-k", "3", "--min-score", "-1"]);
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["path"], "backup/photo copy.jpg", "{hits:#}");
    assert!(hits.as_array().unwrap().iter().all(|h| h["path"] != "photo.jpg"));

    let out = clipfind(d.path(), &tiny(), &["search", "--like", "nope.jpg"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.jpg is not in the index"));
}

#[test]
fn a_different_model_is_refused_and_rebuild_switches() {
    let d = photo_folder();
    index(d.path(), &[]);
    // Another model: same architecture, different weights file identity.
    let other = tempfile::tempdir().unwrap();
    for f in ["text.onnx", "vision.onnx", "tokenizer.json", "clipfind-model.json"] {
        std::fs::copy(tiny().join(f), other.path().join(f)).unwrap();
    }
    let spec_path = other.path().join("clipfind-model.json");
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    spec["name"] = "other-model".into();
    spec["sha256"]["vision.onnx"] = "0".repeat(64).into();
    std::fs::write(&spec_path, spec.to_string()).unwrap();

    let out = clipfind(d.path(), other.path(), &["index"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("built with the model `test-tiny`, not `other-model`") && err.contains("--rebuild"), "{err}");
    let out = clipfind(d.path(), other.path(), &["search", "a dog", "--model", other.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("built with the model `test-tiny`"));

    let out = clipfind(d.path(), other.path(), &["index", "--rebuild", "--json"]);
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((n(&s, "new"), n(&s, "embedded")), (11, 11), "{s:#}");

    // --rebuild-on-model-change: same model, nothing to do; back to test-tiny, everything again.
    let out = clipfind(d.path(), other.path(), &["index", "--rebuild-on-model-change", "--json"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((n(&s, "unchanged"), n(&s, "embedded")), (12, 0), "{s:#}");
    let out = clipfind(d.path(), &tiny(), &["index", "--rebuild-on-model-change", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("re-embedding everything with `test-tiny`"));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((n(&s, "new"), n(&s, "embedded")), (11, 11), "{s:#}");
}

#[test]
fn approximate_factories_build_and_search() {
    let d = photo_folder();
    let s = index(d.path(), &["--factory", "HNSW16"]);
    assert_eq!(n(&s, "total"), 12);
    let out = clipfind(d.path(), &tiny(), &["search", "--image", fixture("images/gray.png").to_str().unwrap(), "--json", "-k", "1"]);
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["path"], "gray.png");
    let out = clipfind(d.path(), &tiny(), &["index", "--factory", "IVF64,Flat"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be trained on 12 images"));
}

/// Many small unique JPEGs, so indexing takes long enough to be killed in the middle.
pub(crate) fn many_images(dir: &Path, count: usize) {
    for i in 0..count as u32 {
        let img = image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, ((y * 5 + (i / 256) * 40) % 256) as u8, ((i * 7 + x * y) % 256) as u8])
        });
        img.save(dir.join(format!("img-{i:04}.jpg"))).unwrap();
    }
}

const COUNT: usize = 1200;

#[test]
fn killing_the_indexer_leaves_a_consistent_loadable_index_that_resumes() {
    let d = tempfile::tempdir().unwrap();
    many_images(d.path(), COUNT);
    let index_dir = d.path().join(".clipfind");
    let mut child = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--quiet", "--batch", "1", "--checkpoint", "8", "--data"])
        .arg(d.path())
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some checkpoints are committed, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        let count = Catalog::open_read_only(&index_dir).and_then(|c| c.count()).unwrap_or(0);
        if count >= 40 {
            break count;
        }
        assert!(Instant::now() < deadline, "indexing made no progress");
        assert!(child.try_wait().unwrap().is_none(), "indexer finished before it could be killed");
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The interrupted index loads and is consistent: every catalog row is searchable exactly once.
    let catalog = Catalog::open_read_only(&index_dir).unwrap();
    let rows = catalog.images().unwrap();
    assert!(rows.len() as u64 >= committed && rows.len() < COUNT, "{} rows", rows.len());
    let clip = Clip::load(&tiny(), ClipOptions { device: "cpu".parse().unwrap(), threads: 1, ..Default::default() }).unwrap();
    let searcher = Searcher::open(&index_dir, clip).unwrap();
    assert_eq!(searcher.stats().images, rows.len() as u64);
    let hits = searcher.search_text("x", SearchParams { k: 1000, min_score: -1.0, ..Default::default() }).unwrap();
    assert_eq!(hits.len(), rows.len());
    let mut paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), rows.len(), "no duplicated entries");

    // A re-run embeds only what was not committed, and ends with everything exactly once.
    let s = index(d.path(), &[]);
    assert_eq!(n(&s, "embedded") as usize, COUNT - rows.len(), "{s:#}");
    assert_eq!(n(&s, "unchanged") as usize, rows.len());
    assert_eq!(n(&s, "total") as usize, COUNT);
    let again = index(d.path(), &[]);
    assert_eq!(n(&again, "embedded"), 0);
}

/// Makes `dir` and everything in it readable, not writable, by other users.
fn readable_by_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(dir) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { all.extend(walk(&path)) } else { all.push(path) }
    }
    all
}

#[test]
fn an_index_in_a_folder_the_user_cannot_write_is_searched() {
    // As another user (nobody), with everything it needs copied where it can read it.
    let d = tempfile::tempdir().unwrap();
    let (photos, model, runtime) = (d.path().join("photos"), d.path().join("model"), d.path().join("runtime"));
    std::fs::create_dir_all(&model).unwrap();
    for file in std::fs::read_dir(tiny()).unwrap().flatten() {
        std::fs::copy(file.path(), model.join(file.file_name())).unwrap();
    }
    copy("images/photo.jpg", &photos, "photo.jpg");
    copy("images/wide.png", &photos, "wide.png");
    let indexed = clipfind(&photos, &model, &["index", "--json"]);
    assert!(indexed.status.success(), "{}", String::from_utf8_lossy(&indexed.stderr));
    let index_dir = photos.join(".clipfind");
    assert!(!index_dir.join("catalog.sqlite-shm").exists(), "clipfind leaves no -shm file behind");
    let library = clipfind_engine::runtime::onnx::locate(None).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::copy(&library, runtime.join(library.file_name().unwrap())).unwrap();
    readable_by_all(d.path());

    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_clipfind"))
        .args(["search", "--image"])
        .arg(photos.join("photo.jpg"))
        .args(["--min-score", "-1", "--json", "--data"])
        .arg(&photos)
        .env("CLIPFIND_MODEL", &model)
        .env("ORT_DYLIB_PATH", &runtime)
        .env("CLIPFIND_DEVICE", "cpu")
        .env("HOME", d.path())
        .env_remove("CLIPFIND_INDEX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["path"], "photo.jpg", "{hits:#}");
    assert!(!index_dir.join("catalog.sqlite-shm").exists(), "nothing written");
}

#[test]
fn missing_thumbnails_are_made_again_and_temporary_files_cleaned() {
    let d = photo_folder();
    index(d.path(), &[]);
    let thumbs = d.path().join(".clipfind/thumbs");
    let shard = std::fs::read_dir(&thumbs).unwrap().flatten().next().unwrap().path();
    let lost = std::fs::read_dir(&shard).unwrap().flatten().next().unwrap().path();
    std::fs::remove_file(&lost).unwrap();
    // As an earlier release named it (`<hash>.<pid>.tmp`): only clipfind's own names are cleaned.
    let leftover = shard.join(format!("{}.999.tmp", lost.file_stem().unwrap().to_str().unwrap()));
    let not_ours = shard.join("notes.tmp");
    std::fs::write(&not_ours, b"someone else's").unwrap();
    std::fs::write(&leftover, b"half a thumbnail").unwrap();

    let s = index(d.path(), &[]);
    assert_eq!((n(&s, "thumbnails_made"), n(&s, "embedded")), (1, 0), "{s:#}");
    assert!(lost.is_file(), "the lost thumbnail is back");
    assert!(!leftover.exists(), "the temporary file is gone");
    assert!(not_ours.exists(), "a file clipfind does not write is left alone");
    assert_eq!(n(&index(d.path(), &[]), "thumbnails_made"), 0, "nothing more to make");
}

/// Peak resident memory (VmHWM, MB) of a running child, polled until it exits. Fails when
/// /proc never said (a peak of 0 would pass any bound).
fn peak_mb_until_exit(child: &mut std::process::Child) -> (u64, std::process::ExitStatus) {
    let (mut peak_kb, mut readings) = (0, 0);
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kb) = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()) {
                peak_kb = peak_kb.max(kb);
                readings += 1;
            }
        }
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(readings > 0 && peak_kb > 0, "/proc/{}/status never gave the peak memory", child.id());
            return (peak_kb / 1024, exit);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Peak of an indexing run that decodes one 64 MP image at a time (about 190 MB of RGB pixels,
/// plus the model, ONNX Runtime, FAISS and buffers; measured 263 MB). Two at a time, as the two
/// decode threads do without a budget, measured 446 MB.
const ONE_AT_A_TIME_MB: u64 = 350;

#[test]
fn indexing_large_images_stays_within_the_decode_budget() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..4u8 {
        // 64 MP each (512 MB of decode budget), distinct content, a few KB as PNG.
        let img = image::RgbImage::from_fn(8000, 8000, |x, _| image::Rgb([i * 60, (x / 32) as u8, 90]));
        img.save(d.path().join(format!("big{i}.png"))).unwrap();
    }
    // Two of these images (512 MB each) do not fit in 600 MB: they decode one at a time.
    let budget_mb = 600;
    let mut child = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--quiet", "--no-thumbnails", "--decode-memory-mb", &budget_mb.to_string(), "--data"])
        .arg(d.path())
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .env_remove("CLIPFIND_INDEX")
        .spawn()
        .unwrap();
    let (peak_mb, exit) = peak_mb_until_exit(&mut child);
    assert!(exit.success());
    eprintln!("indexing four 64 MP images with a {budget_mb} MB decode budget: peak {peak_mb} MB");
    assert!(peak_mb < ONE_AT_A_TIME_MB, "peak {peak_mb} MB: more than one large decode at a time");
    let catalog = Catalog::open_read_only(&d.path().join(".clipfind")).unwrap();
    assert_eq!(catalog.count().unwrap(), 4);
}
