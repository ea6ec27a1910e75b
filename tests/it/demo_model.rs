//! The bundled demo model (models/clipfind-demo) retrieves the right images through the whole Rust
//! pipeline: samples/shapes is its held-out set (a seed it never trained on), eval.json lists what
//! each query should find, and reference-eval.json holds the PyTorch evaluation of the same model.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use clipfind_engine::{
    clip::{Clip, ClipOptions},
    evaluate::{self, EvalSet, Metrics, Report},
    searcher::{SearchParams, Searcher},
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn demo_model() -> PathBuf {
    root().join("models/clipfind-demo")
}

fn shapes() -> &'static EvalSet {
    static SET: OnceLock<EvalSet> = OnceLock::new();
    SET.get_or_init(|| EvalSet::load(&root().join("samples/shapes")).expect("samples/shapes/eval.json loads"))
}

/// The held-out set indexed once with the demo model, shared by the tests of this file.
fn searcher() -> &'static Searcher {
    static INDEXED: OnceLock<(tempfile::TempDir, Searcher)> = OnceLock::new();
    let (_, searcher) = INDEXED.get_or_init(|| {
        let clip = Clip::load(&demo_model(), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).expect("demo model loads");
        let dir = tempfile::tempdir().unwrap();
        let searcher = shapes().index(clip, dir.path()).expect("samples/shapes indexes");
        (dir, searcher)
    });
    searcher
}

fn reference() -> Report {
    let text = std::fs::read_to_string(demo_model().join("reference-eval.json")).expect("reference-eval.json");
    serde_json::from_str(&text).expect("reference-eval.json parses")
}

/// Every metric of `a` within `tolerance` of `b` (0.01: "within 1 point" on a 0-1 scale).
fn assert_close(what: &str, a: &Metrics, b: &Metrics, tolerance: f64) {
    assert_eq!(a.queries, b.queries, "{what}: query count");
    for (name, x, y) in [
        ("recall@1", a.recall_at_1, b.recall_at_1),
        ("recall@5", a.recall_at_5, b.recall_at_5),
        ("recall@10", a.recall_at_10, b.recall_at_10),
        ("MRR", a.mrr, b.mrr),
        ("precision@5", a.precision_at_5, b.precision_at_5),
    ] {
        assert!((x - y).abs() <= tolerance, "{what} {name}: {x:.4} vs {y:.4}");
    }
}

#[test]
fn held_out_recall_meets_the_bar_and_matches_the_pytorch_reference() {
    let report = evaluate::evaluate(searcher(), shapes()).expect("evaluation runs");
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    let text = report.text_to_image;
    assert_eq!((report.images, text.queries), (400, 40));
    assert!(text.recall_at_5 >= 0.90, "colour+shape recall@5 {:.3} < 0.90", text.recall_at_5);
    let reference = reference();
    assert_eq!(report.images, reference.images);
    assert_close("text to image, Rust vs PyTorch", &text, &reference.text_to_image, 0.01);
    assert_close("image to image, Rust vs PyTorch", &report.image_to_image, &reference.image_to_image, 0.01);
}

#[test]
fn a_red_square_query_returns_red_squares_first() {
    let set = shapes();
    let label = |path: &str, key: &str| set.attribute(path, key).and_then(|v| v.as_str()).unwrap_or("?").to_string();
    let is = |path: &str, key: &str, value: &str| label(path, key) == value;
    let red_squares = set.manifest.images.iter().filter(|i| is(&i.file, "color", "red") && is(&i.file, "shape", "square")).count();
    assert!(red_squares >= 3, "the set has {red_squares} red squares");
    let hits = searcher().search_text("a red square", SearchParams { k: 3, min_score: -1.0, ..Default::default() }).unwrap();
    let shown: Vec<String> = hits.iter().map(|h| format!("{} ({} {})", h.path, label(&h.path, "color"), label(&h.path, "shape"))).collect();
    assert!(hits.iter().all(|h| is(&h.path, "color", "red") && is(&h.path, "shape", "square")), "top 3: {shown:?}");
}

#[test]
fn clipfind_eval_prints_the_same_report_and_explains_a_missing_set() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_clipfind"))
            .args(args)
            .current_dir(root())
            .env("CLIPFIND_DEVICE", "cpu")
            .env_remove("CLIPFIND_MODEL")
            .env_remove("CLIPFIND_INDEX")
            .output()
            .unwrap()
    };
    let out = run(&["eval", "--json", "--model", "models/clipfind-demo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Report = serde_json::from_slice(&out.stdout).expect("eval --json prints a report");
    let library = evaluate::evaluate(searcher(), shapes()).unwrap();
    assert_eq!(printed.images, library.images);
    assert_close("text to image, CLI vs library", &printed.text_to_image, &library.text_to_image, 1e-9);
    assert_close("image to image, CLI vs library", &printed.image_to_image, &library.image_to_image, 1e-9);

    let out = run(&["eval", "--set", "no/such/folder", "--model", "models/clipfind-demo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no evaluation set in no/such/folder"));
}
