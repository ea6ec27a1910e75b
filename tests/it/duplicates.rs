//! Near-duplicate grouping on a generated set with known answers, with the demo model: 50
//! distinct pictures from the shapes world (pairwise below 0.90 with the demo model), 10 with
//! an exact copy, 10 with a half-size and a re-encoded copy, 10 shot as 3-frame bursts (EXIF
//! times a second apart, the frame shifted a few pixels), 20 alone. Precision and recall of the
//! grouping are printed and must both reach 0.95 at the default threshold, through the CLI and
//! the JSON API.

use std::{
    collections::{BTreeSet, HashMap},
    io::Cursor,
    path::Path,
};

use clipfind_engine::{media::photo_meta::testing::{
    exif::{Field, In, Tag, Value as ExifValue},
    exif_tiff, jpeg_with_app1,
}};
use serde_json::Value;

use crate::{
    indexing::{clipfind, root},
    live::{get, serve_model},
};

/// Shapes pictures that the demo model tells apart (greedy pick: each below 0.90 cosine to all
/// earlier ones), from samples/shapes.
const BASES: [&str; 50] = [
    "0000.png", "0001.jpg", "0002.jpg", "0003.jpg", "0004.jpg", "0005.png", "0006.jpg", "0007.jpg", "0008.jpg", "0009.jpg",
    "0010.png", "0011.jpg", "0012.jpg", "0013.jpg", "0014.jpg", "0015.png", "0016.jpg", "0017.jpg", "0018.jpg", "0019.jpg",
    "0020.png", "0021.jpg", "0022.jpg", "0025.png", "0026.jpg", "0027.jpg", "0028.jpg", "0029.jpg", "0030.png", "0031.jpg",
    "0032.jpg", "0033.jpg", "0034.jpg", "0035.png", "0036.jpg", "0037.jpg", "0038.jpg", "0039.jpg", "0040.png", "0041.jpg",
    "0042.jpg", "0043.jpg", "0044.jpg", "0045.png", "0047.jpg", "0048.jpg", "0049.jpg", "0050.png", "0051.jpg", "0052.jpg",
];

fn jpeg(image: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut bytes), quality).encode_image(image).unwrap();
    bytes
}

/// A JPEG of `image` whose EXIF says it was taken at `second` past 2024-05-01 10:00:00.
fn shot(image: &image::RgbImage, second: u32) -> Vec<u8> {
    let time = format!("2024:05:01 10:00:{second:02}");
    let field = Field { tag: Tag::DateTimeOriginal, ifd_num: In::PRIMARY, value: ExifValue::Ascii(vec![time.into_bytes()]) };
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif_tiff(&[field]));
    jpeg_with_app1(&jpeg(image, 92), &payload)
}

/// `image` moved `dx` pixels left and `dy` up (the edge repeated): a burst's next frame.
fn shifted(image: &image::RgbImage, dx: u32, dy: u32) -> image::RgbImage {
    image::RgbImage::from_fn(image.width(), image.height(), |x, y| *image.get_pixel((x + dx).min(image.width() - 1), (y + dy).min(image.height() - 1)))
}

/// Writes the set into `dir`; returns the true groups (file names) by kind.
fn generated_set(dir: &Path) -> HashMap<&'static str, Vec<BTreeSet<String>>> {
    let mut truth: HashMap<&str, Vec<BTreeSet<String>>> = HashMap::new();
    for (i, base) in BASES.iter().enumerate() {
        let source = root().join("samples/shapes").join(format!("shapes-{base}"));
        let picture = image::open(&source).unwrap().to_rgb8();
        let name = |suffix: &str| format!("p{i:02}-{suffix}");
        let write = |file: &str, bytes: &[u8]| std::fs::write(dir.join(file), bytes).unwrap();
        match i / 10 {
            0 => {
                let original = jpeg(&picture, 90);
                write(&name("a.jpg"), &original);
                write(&name("copy.jpg"), &original);
                truth.entry("exact").or_default().push([name("a.jpg"), name("copy.jpg")].into());
            }
            1 => {
                write(&name("a.jpg"), &jpeg(&picture, 90));
                let half = image::imageops::resize(&picture, picture.width() / 2, picture.height() / 2, image::imageops::FilterType::Triangle);
                write(&name("half.jpg"), &jpeg(&half, 85));
                write(&name("q60.jpg"), &jpeg(&picture, 60));
                truth.entry("near").or_default().push([name("a.jpg"), name("half.jpg"), name("q60.jpg")].into());
            }
            2 => {
                for (frame, (dx, dy)) in [(0, 0), (2, 1), (4, 2)].into_iter().enumerate() {
                    write(&name(&format!("burst{frame}.jpg")), &shot(&shifted(&picture, dx, dy), i as u32 + frame as u32));
                }
                truth.entry("burst").or_default().push((0..3).map(|f| name(&format!("burst{f}.jpg"))).collect());
            }
            _ => write(&name("alone.jpg"), &jpeg(&picture, 90)),
        }
    }
    truth
}

/// Same-group pairs of a grouping.
fn pairs(groups: &[BTreeSet<String>]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for g in groups {
        for a in g {
            for b in g {
                if a < b {
                    out.insert((a.clone(), b.clone()));
                }
            }
        }
    }
    out
}

/// Precision and recall of `found` against `truth`, over same-group pairs.
fn precision_recall(found: &[BTreeSet<String>], truth: &[BTreeSet<String>]) -> (f64, f64) {
    let (found, truth) = (pairs(found), pairs(truth));
    let correct = found.intersection(&truth).count() as f64;
    (correct / found.len().max(1) as f64, correct / truth.len().max(1) as f64)
}

/// (kind, files) of each group of a `duplicates --json` or `/api/duplicates` answer.
fn groups_of(groups: &Value) -> Vec<(String, BTreeSet<String>)> {
    (groups.as_array().unwrap().iter())
        .map(|g| (g["kind"].as_str().unwrap().to_string(), g["members"].as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap().to_string()).collect()))
        .collect()
}

fn check(label: &str, found: &[(String, BTreeSet<String>)], truth: &HashMap<&str, Vec<BTreeSet<String>>>) {
    let all_found: Vec<BTreeSet<String>> = found.iter().map(|g| g.1.clone()).collect();
    let all_truth: Vec<BTreeSet<String>> = truth.values().flatten().cloned().collect();
    let (precision, recall) = precision_recall(&all_found, &all_truth);
    println!("{label}: {} groups found, {} true; pair precision {precision:.3}, recall {recall:.3}", found.len(), all_truth.len());
    for (kind, groups) in truth {
        let of_kind: Vec<BTreeSet<String>> = found.iter().filter(|g| g.0 == *kind).map(|g| g.1.clone()).collect();
        let (p, r) = precision_recall(&of_kind, groups);
        println!("  {kind}: precision {p:.3}, recall {r:.3}");
        assert!(p >= 0.95 && r >= 0.95, "{label} {kind}: precision {p}, recall {r}: {found:?}");
    }
    assert!(precision >= 0.95 && recall >= 0.95, "{label}: precision {precision}, recall {recall}");
}

#[test]
fn exact_copies_near_copies_and_bursts_are_grouped_with_precision_and_recall_of_095() {
    let d = tempfile::tempdir().unwrap();
    let truth = generated_set(d.path());
    let demo = root().join("models/clipfind-demo");
    let out = clipfind(d.path(), &demo, &["index", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = clipfind(d.path(), &demo, &["duplicates", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found = groups_of(&serde_json::from_slice(&out.stdout).unwrap());
    check("CLI, threshold 0.95", &found, &truth);
    let sizes: Vec<usize> = found.iter().map(|g| g.1.len()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest groups first: {sizes:?}");

    // The text report names each kind; nothing is deleted.
    let files_before = std::fs::read_dir(d.path()).unwrap().count();
    let text = clipfind(d.path(), &demo, &["duplicates"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("exact copies (2 files)") && text.contains("near copies (3 files)") && text.contains("burst (3 files)"), "{text}");
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), files_before);

    let server = serve_model(d.path(), &demo, &[]);
    let (status, body) = get(&format!("{}/api/duplicates", server.url));
    assert_eq!(status, 200, "{body}");
    check("API, default threshold", &groups_of(&body["groups"]), &truth);
    // A threshold of 1 keeps exact copies and nothing merely alike.
    let (_, strict) = get(&format!("{}/api/duplicates?threshold=1", server.url));
    assert!(groups_of(&strict["groups"]).iter().all(|g| g.0 == "exact"), "{strict}");
    for bad in ["0.5", "x", "1.5"] {
        let (status, body) = get(&format!("{}/api/duplicates?threshold={bad}", server.url));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains("0.8 to 1"), "{body}");
    }
}
