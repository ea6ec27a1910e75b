//! An index that grows in place: the size policy switching from exact to approximate search,
//! adds/removes/renames on an approximate index, kill -9 at 20 steps of indexing, retraining and
//! upgrading (every one leaves a consistent, searchable index that the next run completes), and
//! a format-1 index from the previous release upgraded without re-embedding.

use std::{
    collections::HashSet,
    io::Write,
    ops::Range,
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Command, Output},
};

use clipfind_engine::{
    catalog::Catalog,
    clip::{Clip, ClipOptions},
    search::searcher::{SearchParams, Searcher},
};
use serde_json::Value;

use crate::indexing::{fixture, index, n, tiny};

/// Distinct small images `g-<i>.png` for each i in `range`.
pub(crate) fn images(dir: &Path, range: Range<u32>) {
    for i in range {
        let img = image::RgbImage::from_fn(48, 40, |x, y| {
            let v = i.wrapping_mul(2_654_435_761) ^ (x * 31 + y * 17);
            image::Rgb([(v % 251) as u8, ((v >> 8) % 241) as u8, ((x * y + i * 13) % 256) as u8])
        });
        img.save(dir.join(format!("g-{i:03}.png"))).unwrap();
    }
}

/// Exact search up to 8 images, so a few dozen test images get an IVF index.
const SMALL_POLICY: [&str; 6] = ["--exact-up-to", "8", "--checkpoint", "2", "--batch", "2"];

/// Approximate search from 8 images, with the default checkpoints and batches: for libraries
/// of a thousand images and more.
const LARGE_POLICY: [&str; 2] = ["--exact-up-to", "8"];

fn run_index(data: &Path, kill_at: Option<&str>) -> Output {
    run_index_with(data, &SMALL_POLICY, kill_at)
}

fn run_index_with(data: &Path, policy: &[&str], kill_at: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clipfind"));
    cmd.args(["index", "--json", "--quiet"]).args(policy).arg("--data").arg(data);
    cmd.env("CLIPFIND_MODEL", tiny()).env("CLIPFIND_DEVICE", "cpu").env_remove("CLIPFIND_INDEX");
    if let Some(point) = kill_at {
        cmd.env("CLIPFIND_KILL_AT", point);
    }
    cmd.output().unwrap()
}

fn index_small(data: &Path) -> Value {
    index_with(data, &SMALL_POLICY)
}

fn index_with(data: &Path, policy: &[&str]) -> Value {
    let out = run_index_with(data, policy, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn open_searcher(index_dir: &Path) -> Searcher {
    let clip = Clip::load(&tiny(), ClipOptions { device: "cpu".parse().unwrap(), threads: 1, ..Default::default() }).unwrap();
    Searcher::open(index_dir, clip).unwrap()
}

/// Every committed image is searchable and finds itself first with its exact score; nothing
/// else is returned; text-search scores are the exact cosine of the stored vectors.
fn assert_consistent(data: &Path, context: &str) -> usize {
    let index_dir = data.join(".clipfind");
    // Killed before the first commit: no catalog yet, nothing to check. A catalog that is there
    // must open.
    if !index_dir.join("catalog.sqlite").exists() {
        return 0;
    }
    let rows = Catalog::open_read_only(&index_dir).unwrap_or_else(|e| panic!("{context}: the catalog does not open: {e}")).images().unwrap();
    if rows.is_empty() {
        return 0;
    }
    let searcher = open_searcher(&index_dir);
    assert_eq!(searcher.stats().images, rows.len() as u64, "{context}");
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    for row in &rows {
        let v = searcher.vector(row.id).unwrap().unwrap_or_else(|| panic!("{context}: no vector for {}", row.path));
        let hits = searcher.search_vector(&v, SearchParams { k: 1, min_score: -1.0, ..Default::default() }, None).unwrap();
        assert_eq!(hits[0].id, row.id, "{context}: {} does not find itself", row.path);
        assert!((hits[0].score - 1.0).abs() < 1e-4, "{context}: {hits:?}");
    }
    let query = searcher.clip().embed_text("a striped pattern").unwrap();
    let hits = searcher.search_vector(&query, SearchParams { k: 10, min_score: -1.0, ..Default::default() }, None).unwrap();
    for hit in &hits {
        assert!(ids.contains(&hit.id), "{context}: hit {} is not in the catalog", hit.id);
        let exact: f32 = searcher.vector(hit.id).unwrap().unwrap().iter().zip(&query).map(|(a, b)| a * b).sum();
        assert!((hit.score - exact).abs() < 1e-5, "{context}: score {} is not the exact {exact}", hit.score);
    }
    // The CLI answers too (an interrupted first run used to say "no index").
    let out = crate::indexing::clipfind(data, &tiny(), &["search", "a striped pattern", "--json"]);
    assert!(out.status.success(), "{context}: {}", String::from_utf8_lossy(&out.stderr));
    rows.len()
}

fn paths(data: &Path) -> HashSet<String> {
    Catalog::open_read_only(&data.join(".clipfind")).unwrap().images().unwrap().into_iter().map(|r| r.path).collect()
}

fn expected(range: Range<u32>) -> HashSet<String> {
    range.map(|i| format!("g-{i:03}.png")).collect()
}

#[test]
fn crossing_the_exact_threshold_switches_to_ivf_with_consistent_results() {
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 0..6);
    let exact = index_small(d.path());
    assert_eq!(exact["vector_index"]["factory"], "Flat", "{exact:#}");
    let before = open_searcher(&d.path().join(".clipfind")).search_text("a striped pattern", SearchParams { k: 6, min_score: -1.0, ..Default::default() }).unwrap();

    images(d.path(), 6..40);
    let grown = index_small(d.path());
    assert_eq!(grown["vector_index"]["factory"], "IVF8,SQ8", "{grown:#}");
    assert_eq!(grown["vector_index"]["retrained"], true);
    assert!(grown["vector_index"]["recall"].as_f64().unwrap() >= 0.95, "{grown:#}");
    assert_consistent(d.path(), "after the switch");
    // The six first images keep their vectors, so their exact scores, in the approximate index.
    let searcher = open_searcher(&d.path().join(".clipfind"));
    assert_eq!(searcher.stats().factory, "IVF8,SQ8");
    let query = searcher.clip().embed_text("a striped pattern").unwrap();
    for hit in &before {
        let score: f32 = searcher.vector(hit.id).unwrap().unwrap().iter().zip(&query).map(|(a, b)| a * b).sum();
        assert!((score - hit.score).abs() < 1e-5, "{}", hit.path);
    }

    // Shrinking far below the threshold goes back to exact search.
    for i in 3..40 {
        std::fs::remove_file(d.path().join(format!("g-{i:03}.png"))).unwrap();
    }
    let shrunk = index_small(d.path());
    assert_eq!(shrunk["vector_index"]["factory"], "Flat", "{shrunk:#}");
    assert_eq!(assert_consistent(d.path(), "after shrinking"), 3);
}

#[test]
fn adds_removals_and_renames_change_an_approximate_index_in_place() {
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 0..30);
    let first = index_small(d.path());
    assert_eq!(first["vector_index"]["factory"], "IVF8,SQ8", "{first:#}");
    let snapshot = |d: &Path| Catalog::open_read_only(&d.join(".clipfind")).unwrap().meta("ann_file").unwrap();
    let trained = snapshot(d.path());

    images(d.path(), 30..34);
    for i in [1, 2] {
        std::fs::remove_file(d.path().join(format!("g-{i:03}.png"))).unwrap();
    }
    std::fs::rename(d.path().join("g-005.png"), d.path().join("renamed.png")).unwrap();
    let renamed_id = Catalog::open_read_only(&d.path().join(".clipfind")).unwrap().image_at("g-005.png").unwrap().unwrap().id;
    let s = index_small(d.path());
    assert_eq!((n(&s, "new"), n(&s, "removed"), n(&s, "renamed"), n(&s, "embedded")), (4, 2, 1, 4), "{s:#}");
    assert_eq!(s["vector_index"]["retrained"], false, "{s:#}");
    assert_eq!(s["vectors_written"], false, "a few changes stay in the log");
    assert_eq!(snapshot(d.path()), trained, "the snapshot is not rewritten");
    assert_eq!(assert_consistent(d.path(), "after changes"), 32);
    let searcher = open_searcher(&d.path().join(".clipfind"));
    assert_eq!(searcher.stats().replayed_changes, 6, "4 adds and 2 removals replayed at load");
    let v = searcher.vector(renamed_id).unwrap().unwrap();
    let hit = &searcher.search_vector(&v, SearchParams { k: 1, min_score: -1.0, ..Default::default() }, None).unwrap()[0];
    assert_eq!((hit.id, hit.path.as_str()), (renamed_id, "renamed.png"), "a rename keeps the id and vector");
    let everything = searcher.search_text("x", SearchParams { k: 100, min_score: -1.0, ..Default::default() }).unwrap();
    assert!(everything.iter().all(|h| !h.path.starts_with("g-001") && !h.path.starts_with("g-002")), "removed images are gone");
}

/// Runs `clipfind index` with a kill at `point`, checks it died there and left a consistent
/// index, then lets a normal run finish and checks the result.
fn kill_and_resume(data: &Path, point: &str, want: &HashSet<String>) {
    kill_and_resume_with(data, &SMALL_POLICY, point, want);
}

fn kill_and_resume_with(data: &Path, policy: &[&str], point: &str, want: &HashSet<String>) {
    let out = run_index_with(data, policy, Some(point));
    assert_eq!(out.status.signal(), Some(9), "{point}: not killed ({}) {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_consistent(data, &format!("killed at {point}"));
    index_with(data, policy);
    let context = format!("resumed after {point}");
    assert_eq!(assert_consistent(data, &context), want.len(), "{context}");
    assert_eq!(&paths(data), want, "{context}");
    let again = index_with(data, policy);
    assert_eq!((n(&again, "embedded"), n(&again, "removed")), (0, 0), "{context}: {again:#}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn kill_9_at_twenty_steps_leaves_a_consistent_index_that_the_next_run_completes() {
    // The first run: commits, training, the snapshot written and named.
    for point in [
        "vectors-synced#1",
        "vectors-synced#2",
        "catalog-committed#1",
        "catalog-committed#3",
        "snapshot-trained#1",
        "snapshot-filled#1",
        "snapshot-saved#1",
        "snapshot-committed#1",
    ] {
        let d = tempfile::tempdir().unwrap();
        images(d.path(), 0..12);
        kill_and_resume(d.path(), point, &expected(0..12));
    }

    let built = tempfile::tempdir().unwrap();
    images(built.path(), 0..12);
    assert_eq!(index_small(built.path())["vector_index"]["factory"], "IVF8,SQ8");
    // An incremental update that stays in the log, and one that grows the library fivefold
    // and retrains.
    let scenarios: [(&str, Range<u32>); 10] = [
        ("vectors-synced#1", 12..22),
        ("vectors-synced#4", 12..22),
        ("catalog-committed#2", 12..22),
        ("catalog-committed#5", 12..22),
        ("vectors-synced#3", 12..60),
        ("catalog-committed#6", 12..60),
        ("snapshot-trained#1", 12..60),
        ("snapshot-filled#1", 12..60),
        ("snapshot-saved#1", 12..60),
        ("snapshot-committed#1", 12..60),
    ];
    for (point, added) in scenarios {
        let d = tempfile::tempdir().unwrap();
        copy_dir(built.path(), d.path());
        images(d.path(), added.clone());
        kill_and_resume(d.path(), point, &expected(0..added.end));
    }

    // Upgrading a format-1 index.
    for point in ["upgrade-vectors-written#1", "upgrade-committed#1"] {
        let d = format_1_library();
        let out = run_index(d.path(), Some(point));
        assert_eq!(out.status.signal(), Some(9), "{point}: not killed: {}", String::from_utf8_lossy(&out.stderr));
        let s = index(d.path(), &[]);
        assert_eq!((n(&s, "embedded"), n(&s, "total")), (0, 14), "{point}: {s:#}");
        assert_eq!(assert_consistent(d.path(), point), 14);
    }
}

#[test]
fn kill_9_while_folding_the_log_or_compacting_the_vector_file_leaves_a_consistent_index() {
    // Both need more than 1,000 changes: a log that long is folded into a new snapshot, and a
    // vector file with that many unused slots (and more than live ones) is rewritten.
    let built = tempfile::tempdir().unwrap();
    images(built.path(), 0..1100);
    assert_eq!(index_with(built.path(), &LARGE_POLICY)["vector_index"]["retrained"], true);
    let meta = |d: &Path, key: &str| Catalog::open_read_only(&d.join(".clipfind")).unwrap().meta(key).unwrap();
    let copy = || {
        let d = tempfile::tempdir().unwrap();
        copy_dir(built.path(), d.path());
        d
    };

    // 1,001 more images: not enough growth to retrain, a log long enough to fold.
    let folded = copy();
    images(folded.path(), 1100..2101);
    let s = index_with(folded.path(), &LARGE_POLICY);
    assert_eq!((&s["vector_index"]["written"], &s["vector_index"]["retrained"]), (&true.into(), &false.into()), "{s:#}");
    assert_ne!(meta(folded.path(), "ann_file"), meta(built.path(), "ann_file"), "a new snapshot holds the log");
    let killed = copy();
    images(killed.path(), 1100..2101);
    kill_and_resume_with(killed.path(), &LARGE_POLICY, "snapshot-folded#1", &expected(0..2101));

    // 1,050 images removed: more unused slots than 1,000 and than live ones.
    let remove = |d: &Path| (50..1100).for_each(|i| std::fs::remove_file(d.join(format!("g-{i:03}.png"))).unwrap());
    let compacted = copy();
    remove(compacted.path());
    index_with(compacted.path(), &LARGE_POLICY);
    assert_ne!(meta(compacted.path(), "vector_file"), meta(built.path(), "vector_file"), "the vector file is rewritten");
    assert_eq!(meta(compacted.path(), "vector_slots").as_deref(), Some("50"));
    for point in ["compaction-written#1", "compaction-committed#1"] {
        let d = copy();
        remove(d.path());
        kill_and_resume_with(d.path(), &LARGE_POLICY, point, &expected(0..50));
        let files: Vec<String> = std::fs::read_dir(d.path().join(".clipfind")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let vector_files = files.iter().filter(|f| f.starts_with("vectors-")).count();
        assert_eq!(vector_files, 1, "{point}: the unused vector file is removed: {files:?}");
    }
}

/// The fixture images with the format-1 index the previous release built of them.
fn format_1_library() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    copy_dir(&fixture("images"), d.path());
    copy_dir(&fixture("format1-index"), &d.path().join(".clipfind"));
    d
}

#[test]
fn a_format_1_index_is_upgraded_in_place_without_re_embedding() {
    let d = format_1_library();
    let old = Catalog::open_read_only(&d.path().join(".clipfind")).err().unwrap().to_string();
    assert!(old.contains("upgrade it in place"), "{old}");
    let s = index(d.path(), &[]);
    assert_eq!((n(&s, "embedded"), n(&s, "unchanged"), n(&s, "total")), (0, 14, 14), "{s:#}");
    assert!(!d.path().join(".clipfind/vectors.faiss").exists(), "the old FAISS copy is gone");
    assert_consistent(d.path(), "upgraded");

    // The upgraded index answers exactly as a fresh one built now.
    let fresh = tempfile::tempdir().unwrap();
    copy_dir(&fixture("images"), fresh.path());
    index(fresh.path(), &[]);
    let query = "a photo of a red square";
    let upgraded = open_searcher(&d.path().join(".clipfind")).search_text(query, SearchParams { k: 14, min_score: -1.0, ..Default::default() }).unwrap();
    let rebuilt = open_searcher(&fresh.path().join(".clipfind")).search_text(query, SearchParams { k: 14, min_score: -1.0, ..Default::default() }).unwrap();
    // rgba.png was embedded before its resize followed Pillow's premultiplied arithmetic
    // exactly: its stored vector is from then (cosine 0.9997 to today's), as an upgrade keeps it.
    let pairs = |hits: &[clipfind_engine::search::searcher::Hit]| {
        hits.iter().filter(|h| h.path != "rgba.png").map(|h| (h.path.clone(), (h.score * 1e4).round() as i64)).collect::<Vec<_>>()
    };
    assert_eq!(pairs(&upgraded), pairs(&rebuilt));
    // Nothing of the old format is left: the upgraded catalog is the size of one built now,
    // within a few pages (its free list, and what the two runs wrote in another order).
    let size = |d: &Path| std::fs::metadata(d.join(".clipfind/catalog.sqlite")).unwrap().len();
    let (upgraded, fresh) = (size(d.path()), size(fresh.path()));
    assert!(upgraded <= fresh + 4 * 4096, "the embeddings left the catalog ({upgraded} bytes, {fresh} built now)");
}

#[test]
fn unchanged_folders_are_not_statted_and_a_full_scan_finds_files_rewritten_in_place() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("2023")).unwrap();
    images(&d.path().join("2023"), 0..4);
    images(d.path(), 4..6);
    // Folder times a minute old: settled, so a run may trust them.
    let settle = |d: &Path| {
        for folder in [d.to_path_buf(), d.join("2023")] {
            std::fs::File::open(folder).unwrap().set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60)).unwrap();
        }
    };
    settle(d.path());
    assert_eq!(n(&index(d.path(), &[]), "new"), 6);
    settle(d.path());
    index(d.path(), &["--full-scan"]);

    // A new photo changes its folder's time: found without a full scan.
    images(&d.path().join("2023"), 6..7);
    let added = index(d.path(), &[]);
    assert_eq!((n(&added, "new"), n(&added, "unchanged")), (1, 6), "{added:#}");

    // A photo rewritten in place leaves its folder's time alone: only a full scan reads it.
    settle(d.path());
    index(d.path(), &["--full-scan"]);
    let in_place = d.path().join("2023/g-000.png");
    let other = std::fs::read(d.path().join("2023/g-001.png")).unwrap();
    std::fs::OpenOptions::new().write(true).truncate(true).open(&in_place).unwrap().write_all(&other).unwrap();
    let quick = index(d.path(), &[]);
    assert_eq!(n(&quick, "changed") + n(&quick, "unchanged"), 7, "{quick:#}");
    assert_eq!(n(&quick, "changed"), 0, "trusted: its folder did not change");
    let full = index(d.path(), &["--full-scan"]);
    assert_eq!((n(&full, "changed"), n(&full, "unchanged")), (1, 6), "{full:#}");
}

#[test]
fn a_second_indexer_on_the_same_index_exits_with_a_clear_message() {
    let d = tempfile::tempdir().unwrap();
    crate::indexing::many_images(d.path(), 1500);
    let first = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--quiet", "--batch", "1", "--checkpoint", "8", "--data"])
        .arg(d.path())
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first has committed something, it certainly holds the lock.
    let index_dir = d.path().join(".clipfind");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while Catalog::open_read_only(&index_dir).and_then(|c| c.count()).unwrap_or(0) < 8 {
        assert!(std::time::Instant::now() < deadline, "the first indexer made no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let second = crate::indexing::clipfind(d.path(), &tiny(), &["index", "--quiet"]);
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{message}");
    assert!(message.contains(&format!("(pid {}) is indexing", first.id())), "{message}");
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = Catalog::open_read_only(&index_dir).unwrap().count().unwrap();
    assert_eq!(rows, 1500);
    let again = index(d.path(), &[]);
    assert_eq!((n(&again, "embedded"), n(&again, "total")), (0, 1500), "{again:#}");
}
