//! Bounded, deterministic fuzz runs (proptest, a fixed seed, shrinking to the smallest failing
//! input) of what a hostile user or folder hands the engine: query text in the arithmetic
//! grammar, and image and video files whose headers were damaged.

use std::{cell::Cell, panic::AssertUnwindSafe, path::Path, process::Command};

use clipfind_engine::{
    clip::{preprocess::Preprocess, spec::OPENAI_MEAN},
    media::photo_meta,
    search::query::{Query, TermKind, MAX_TERMS},
};
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use serde_json::Value;

use crate::indexing::{clipfind, root, tiny};

/// The same cases on every run; no regression files written into the tree.
fn runner(cases: u32) -> TestRunner {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Queries made of the grammar's own pieces, so operators, weights, ids and quotes meet in
/// every order, with non-ASCII text, combining marks and overlong numbers among them.
fn query_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec!["+", "-", ":", "#", "\"", " ", " ", "\t", ".", "蓝色的圆", "é", "\u{301}", "t-shirt", "99999999999999999999", "0", "0.5"]).prop_map(String::from),
        3 => "[a-z]{1,6}",
        2 => "[0-9]{1,4}",
    ];
    prop::collection::vec(piece, 0..28).prop_map(|pieces| pieces.concat())
}

/// A query written back in the grammar: each term as `[op] weight:"text"` or `weight:#id`.
fn written(query: &Query) -> Option<String> {
    let mut out = String::new();
    for (i, term) in query.terms.iter().enumerate() {
        let op = match (i, term.weight < 0.0) {
            (_, true) => "- ",
            (0, false) => "",
            (_, false) => "+ ",
        };
        let what = match &term.what {
            TermKind::Image(id) => format!("#{id}"),
            TermKind::Text(text) if text.contains('"') => return None,
            TermKind::Text(text) => format!("\"{text}\""),
        };
        out.push_str(&format!("{op}{}:{what} ", term.weight.abs()));
    }
    Some(out)
}

#[test]
fn the_query_grammar_never_panics_and_what_it_parses_writes_back_to_the_same_query() {
    let (parsed, written_back, refused) = (Cell::new(0), Cell::new(0), Cell::new(0));
    runner(4000)
        .run(&query_text(), |input| {
            let characters = input.chars().count();
            match Query::parse(&input) {
                Ok(query) => {
                    parsed.set(parsed.get() + 1);
                    prop_assert!((1..=MAX_TERMS).contains(&query.terms.len()), "{} terms", query.terms.len());
                    for term in &query.terms {
                        prop_assert!(term.weight.is_finite() && term.weight != 0.0, "weight {}", term.weight);
                        if let TermKind::Text(text) = &term.what {
                            prop_assert!(!text.trim().is_empty(), "an empty text term in {input:?}");
                        }
                    }
                    if let Some(again) = written(&query) {
                        written_back.set(written_back.get() + 1);
                        let reparsed = Query::parse(&again);
                        prop_assert_eq!(reparsed.as_ref(), Ok(&query), "written back as {:?}", again);
                    }
                }
                Err(e) => {
                    refused.set(refused.get() + 1);
                    prop_assert!((1..=characters + 1).contains(&e.position), "{e} in {characters} characters");
                    prop_assert!(!e.message.is_empty());
                }
            }
            // Without the grammar's characters, a query is plain: searched as it was typed.
            if !input.contains(['+', '-', ':', '#', '"']) && !input.trim().is_empty() {
                let query = Query::parse(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(query.as_plain(), Some(input.trim()));
            }
            Ok(())
        })
        .unwrap();
    let (parsed, written_back, refused) = (parsed.get(), written_back.get(), refused.get());
    eprintln!("queries: {parsed} parsed ({written_back} written back), {refused} refused");
    assert!(parsed > 400 && written_back > 400 && refused > 400, "the generator reaches both: {parsed} parsed, {refused} refused");
}

/// A file with up to eight bytes of its first 2 KB replaced (by a random byte or one of the
/// values that break length and size fields), perhaps cut short.
fn damaged(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = (usize, Vec<u8>)> {
    let count = seeds.len();
    (0..count, prop::collection::vec((0usize..2048, prop_oneof![any::<u8>(), prop::sample::select(vec![0u8, 0xFF, 0x7F, 0x80])]), 1..8), prop::option::of(0usize..4096))
        .prop_map(move |(seed, edits, cut)| {
            let mut bytes = seeds[seed].clone();
            for (at, value) in edits {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.min(bytes.len()));
            }
            (seed, bytes)
        })
}

#[test]
fn images_with_damaged_headers_decode_or_fail_with_a_reason_never_panic() {
    let fixtures = ["tiny.png", "gray.png", "photo.jpg", "exif-rotated.jpg", "cmyk.jpg", "lossy.webp", "palette.gif", "bitmap.bmp", "scan.tiff"];
    let mut names: Vec<String> = fixtures.iter().map(|n| n.to_string()).collect();
    let mut seeds: Vec<Vec<u8>> = fixtures.iter().map(|n| std::fs::read(root().join("tests/fixtures/images").join(n)).unwrap()).collect();
    // HEIF and JPEG XL made by their encoders: damaged boxes, sizes and codestreams.
    let made = tempfile::tempdir().unwrap();
    for name in ["phone.heic", "android.avif", "new.jxl", "scan.jp2"] {
        seeds.push(std::fs::read(crate::formats::encoded(&root().join("tests/fixtures/images/photo.jpg"), made.path(), name)).unwrap());
        names.push(name.to_string());
    }
    // DNG: damaged IFDs, tile and strip tables, the embedded JPEG.
    for (name, args) in [("mosaic.dng", &[][..]), ("preview.dng", &["--preview"][..])] {
        let photo = root().join("tests/fixtures/images/photo.jpg");
        seeds.push(std::fs::read(crate::formats::dng(&photo, &made.path().join(name), args)).unwrap());
        names.push(name.to_string());
    }
    // A motion photo: damaged XMP, markers and the clip's boxes.
    let clip = made.path().join("clip.mp4");
    short_video(&clip, &["-c:v", "libx264", "-preset", "veryfast"]);
    let motion = made.path().join("motion.jpg");
    crate::video::motion_photo(&root().join("tests/fixtures/images/photo.jpg"), &clip, "google", &motion);
    seeds.push(std::fs::read(&motion).unwrap());
    names.push("motion.jpg".to_string());
    let exact = Preprocess::new(32, OPENAI_MEAN, [1.0; 3]);
    let scaled = exact.clone().with_scaled_decode(true);
    let (decoded, refused) = (Cell::new(0), Cell::new(0));
    runner(2400)
        .run(&damaged(seeds), |(seed, bytes)| {
            for preprocess in [&exact, &scaled] {
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| preprocess.prepare_bytes(&bytes)));
                match result {
                    Err(_) => return Err(TestCaseError::fail(format!("decoding a damaged {} panicked", names[seed]))),
                    Ok(Ok(prepared)) => {
                        decoded.set(decoded.get() + 1);
                        prop_assert_eq!(prepared.pixels.len(), preprocess.len());
                        prop_assert!(prepared.pixels.iter().all(|v| v.is_finite()));
                        prop_assert!(prepared.width >= 1 && prepared.height >= 1);
                    }
                    Ok(Err(reason)) => {
                        refused.set(refused.get() + 1);
                        prop_assert!(!reason.trim().is_empty(), "no reason for a damaged {}", names[seed]);
                    }
                }
            }
            let clip = std::panic::catch_unwind(|| clipfind_engine::media::motion_photo::clip_range(&bytes));
            let clip = clip.map_err(|_| TestCaseError::fail(format!("finding the clip in a damaged {} panicked", names[seed])))?;
            prop_assert!(clip.is_none_or(|c| c.start < c.end && c.end <= bytes.len()));
            let meta = std::panic::catch_unwind(|| photo_meta::read(&bytes));
            let meta = meta.map_err(|_| TestCaseError::fail(format!("reading the EXIF of a damaged {} panicked", names[seed])))?;
            if let Some((lat, lon)) = meta.location {
                prop_assert!(lat.abs() <= 90.0 && lon.abs() <= 180.0, "{lat} {lon}");
            }
            Ok(())
        })
        .unwrap();
    let (decoded, refused) = (decoded.get(), refused.get());
    eprintln!("damaged images: {decoded} decoded, {refused} refused with a reason");
    assert!(decoded > 0 && refused > 0, "the damage both spared and broke some: {decoded} decoded, {refused} refused");
}

/// Two seconds of a test pattern, with its index (`moov`) first so header damage reaches it.
fn short_video(out: &Path, codec: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-t", "2", "-pix_fmt", "yuv420p"])
        .args(codec)
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {}", out.display());
}

#[test]
fn a_folder_of_videos_with_damaged_headers_indexes_to_the_end_each_read_or_skipped_with_a_reason() {
    let made = tempfile::tempdir().unwrap();
    short_video(&made.path().join("seed.mp4"), &["-c:v", "libx264", "-preset", "veryfast", "-movflags", "+faststart"]);
    short_video(&made.path().join("seed.webm"), &["-c:v", "libvpx-vp9", "-deadline", "realtime"]);
    let seeds: Vec<Vec<u8>> = ["seed.mp4", "seed.webm"].iter().map(|n| std::fs::read(made.path().join(n)).unwrap()).collect();
    let d = tempfile::tempdir().unwrap();
    let mut count = 0;
    let mut runner = runner(1);
    let strategy = damaged(seeds);
    for i in 0..24 {
        let (seed, bytes) = strategy.new_tree(&mut runner).unwrap().current();
        std::fs::write(d.path().join(format!("damaged-{i:02}.{}", ["mp4", "webm"][seed])), bytes).unwrap();
        count += 1;
    }
    let out = clipfind(d.path(), &tiny(), &["index", "--json", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = summary["skipped"].as_array().unwrap();
    assert!(skipped.iter().all(|s| s["reason"].as_str().is_some_and(|r| r.len() > 10)), "each with a reason: {skipped:?}");
    let read = summary["total"].as_u64().unwrap() as usize;
    eprintln!("damaged videos: {read} indexed, {} skipped", skipped.len());
    assert_eq!(read + skipped.len(), count, "{summary:#}");
}
