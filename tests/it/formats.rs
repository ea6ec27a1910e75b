//! The formats phones and cameras write, made here by their real encoders (libheif's `heif-enc`,
//! libavif's `avifenc`, libjxl's `cjxl`, installed by scripts/setup.sh; OpenJPEG through Pillow
//! for JPEG 2000) from one source image:
//! each indexes with nearly its source's embedding, keeps its EXIF capture date, and a damaged
//! one is skipped with a reason.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use clipfind_engine::{
    clip::{Clip, ClipOptions},
    media::photo_meta::testing::{
        exif::{Field, In, Tag, Value as ExifValue},
        jpeg_with_exif,
    },
};
use serde_json::Value;

use crate::indexing::{clipfind, root};

fn demo() -> PathBuf {
    root().join("models/clipfind-demo-bilingual")
}

/// Runs an encoder; a missing one is a set-up problem, said so.
fn encode(tool: &str, args: &[&str]) {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| panic!("{tool} does not run ({e}): run scripts/setup.sh"));
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `name.ext` made from `source` by its format's encoder at high quality.
pub(crate) fn encoded(source: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let (src, dst) = (source.to_str().unwrap(), out.to_str().unwrap());
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("heic") => encode("heif-enc", &["-q", "95", "-o", dst, src]),
        Some("avif") => encode("avifenc", &["--min", "0", "--max", "8", src, dst]),
        Some("jxl") => encode("cjxl", &[src, dst, "-q", "95"]),
        // Pillow's wheels carry OpenJPEG; 48 dB PSNR is a high-quality lossy JPEG 2000.
        Some("jp2") => encode(dng_python().to_str().unwrap(), &["-c", JP2_ENCODER, src, dst]),
        Some("mpo") => std::fs::write(&out, mpo(&std::fs::read(source).unwrap())).unwrap(),
        other => panic!("no encoder for {other:?}"),
    }
    out
}

const JP2_ENCODER: &str = "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2], quality_mode='dB', quality_layers=[48])";

/// A two-picture MPO as 3D and burst cameras write it: the first JPEG with an APP2 `MPF`
/// segment, then the second JPEG (here the first one flipped).
fn mpo(jpeg: &[u8]) -> Vec<u8> {
    let first = image::load_from_memory(jpeg).unwrap();
    let mut second = Vec::new();
    first.fliph().write_to(&mut std::io::Cursor::new(&mut second), image::ImageFormat::Jpeg).unwrap();
    let mut out = jpeg[..2].to_vec();
    let mpf = b"MPF\0II*\0\x08\0\0\0";
    out.extend_from_slice(&[0xFF, 0xE2]);
    out.extend_from_slice(&((mpf.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(mpf);
    out.extend_from_slice(&jpeg[2..]);
    out.extend_from_slice(&second);
    out
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn heic_avif_jpeg_xl_and_mpo_index_with_their_source_s_embedding() {
    let d = tempfile::tempdir().unwrap();
    let png = root().join("samples/shapes/shapes-0000.png");
    std::fs::copy(&png, d.path().join("source.png")).unwrap();
    let jpeg = d.path().join("source.jpg");
    image::open(&png).unwrap().to_rgb8().save_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
    for name in ["phone.heic", "android.avif", "new.jxl", "camera.mpo", "scan.jp2"] {
        let source = if name.ends_with(".mpo") { &jpeg } else { &png };
        encoded(source, d.path(), name);
    }
    let out = clipfind(d.path(), &demo(), &["index", "--json", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["skipped"], serde_json::json!([]), "{summary:#}");
    assert_eq!(summary["total"], 7, "{summary:#}");

    let clip = Clip::load(&demo(), ClipOptions { device: "cpu".parse().unwrap(), threads: 1, ..Default::default() }).unwrap();
    let source = clip.embed_image_file(&png).unwrap();
    for (name, at_least) in [("phone.heic", 0.99), ("android.avif", 0.99), ("new.jxl", 0.99), ("camera.mpo", 0.99), ("scan.jp2", 0.99)] {
        let embedding = clip.embed_image_file(&d.path().join(name)).unwrap();
        let similarity = cosine(&embedding, &source);
        eprintln!("{name}: cosine {similarity:.5} to its source PNG");
        assert!(similarity >= at_least, "{name}: cosine {similarity} to its source");
    }
    // A large JPEG 2000 is decoded at fewer resolution levels (2400x1800 at 600x450 for the
    // demo model's 224 px), keeps its full size, and embeds as its source does.
    let large = d.path().join("large.png");
    image::open(&png).unwrap().resize_exact(2400, 1800, image::imageops::FilterType::Triangle).save(&large).unwrap();
    let large_jp2 = encoded(&large, d.path(), "large.jp2");
    std::fs::remove_file(&large).unwrap();
    let out = clipfind(d.path(), &demo(), &["index", "--json", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let catalog = clipfind_engine::catalog::Catalog::open_read_only(&d.path().join(".clipfind")).unwrap();
    let row = catalog.images().unwrap().into_iter().find(|r| r.path == "large.jp2").unwrap();
    assert_eq!((row.width, row.height), (2400, 1800));
    let similarity = cosine(&clip.embed_image_file(&large_jp2).unwrap(), &source);
    eprintln!("large.jp2 (scaled decoding): cosine {similarity:.5} to the source PNG");
    assert!(similarity >= 0.99, "{similarity}");
    // The MPO is its first picture, not the flipped second one.
    let mpo = clip.embed_image_file(&d.path().join("camera.mpo")).unwrap();
    let jpeg = clip.embed_image_file(&jpeg).unwrap();
    assert!(cosine(&mpo, &jpeg) > 0.9999, "the MPO decodes as its first JPEG");
}

#[test]
fn the_capture_date_in_heic_avif_and_jpeg_xl_files_is_searched_by_date() {
    let d = tempfile::tempdir().unwrap();
    let date = Field { tag: Tag::DateTimeOriginal, ifd_num: In::PRIMARY, value: ExifValue::Ascii(vec![b"2019:07:04 09:30:00".to_vec()]) };
    let camera = d.path().join("camera.jpg");
    std::fs::write(&camera, jpeg_with_exif(320, 240, &[date])).unwrap();
    let made = tempfile::tempdir().unwrap();
    for name in ["july.heic", "july.avif", "july.jxl"] {
        let file = encoded(&camera, made.path(), name);
        std::fs::rename(file, d.path().join(name)).unwrap();
    }
    std::fs::remove_file(&camera).unwrap();
    let out = clipfind(d.path(), &demo(), &["index", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found = |extra: &[&str]| found_paths(d.path(), extra);
    assert_eq!(found(&["--after", "2019-07-01", "--before", "2019-07-31"]), ["july.avif", "july.heic", "july.jxl"]);
    assert!(found(&["--after", "2020-01-01"]).is_empty(), "the date is the EXIF date, not the file's");
}

/// `bytes` with the first `ispe` box (a HEIF image's stored size) saying `width` x `height`.
fn with_heif_size(mut bytes: Vec<u8>, width: u32, height: u32) -> Vec<u8> {
    let at = bytes.windows(4).position(|w| w == b"ispe").expect("an ispe box") + 8;
    bytes[at..at + 4].copy_from_slice(&width.to_be_bytes());
    bytes[at + 4..at + 8].copy_from_slice(&height.to_be_bytes());
    bytes
}

/// `bytes` (a JP2) with its codestream's SIZ marker saying `width` x `height` in one tile.
fn with_jp2_size(mut bytes: Vec<u8>, width: u32, height: u32) -> Vec<u8> {
    let siz = bytes.windows(2).position(|w| w == [0xFF, 0x51]).expect("a SIZ marker");
    for (at, value) in [(6, width), (10, height), (22, width), (26, height)] {
        bytes[siz + at..siz + at + 4].copy_from_slice(&value.to_be_bytes());
    }
    bytes
}

/// Writes `files` into `data`, indexes it, and returns the (path, reason) of each file skipped;
/// exactly one of them (the good one) must be indexed.
fn index_keeping_one(data: &Path, files: &[(&str, Vec<u8>)]) -> Vec<(String, String)> {
    for (name, bytes) in files {
        std::fs::write(data.join(name), bytes).unwrap();
    }
    let out = clipfind(data, &demo(), &["index", "--json", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["total"], 1, "only the good one: {summary:#}");
    summary["skipped"].as_array().unwrap().iter().map(|s| (s["path"].as_str().unwrap().to_string(), s["reason"].as_str().unwrap().to_string())).collect()
}

#[test]
fn damaged_and_oversized_heif_and_jpeg_xl_files_are_skipped_with_a_reason() {
    let d = tempfile::tempdir().unwrap();
    let made = tempfile::tempdir().unwrap();
    let png = root().join("samples/shapes/shapes-0000.png");
    let heic = std::fs::read(encoded(&png, made.path(), "a.heic")).unwrap();
    let avif = std::fs::read(encoded(&png, made.path(), "a.avif")).unwrap();
    let jxl = std::fs::read(encoded(&png, made.path(), "a.jxl")).unwrap();
    let jp2 = std::fs::read(encoded(&png, made.path(), "a.jp2")).unwrap();
    let files: [(&str, Vec<u8>); 9] = [
        ("truncated.heic", heic[..heic.len() / 2].to_vec()),
        ("bomb.heic", with_heif_size(heic.clone(), 60_000, 60_000)),
        ("sliver.avif", with_heif_size(avif.clone(), 20_000, 4)),
        ("only-ftyp.heic", heic[..32].to_vec()),
        ("truncated.jxl", jxl[..jxl.len() / 2].to_vec()),
        ("text.jxl", b"not a JPEG XL file".to_vec()),
        ("truncated.jp2", jp2[..jp2.len() / 2].to_vec()),
        ("bomb.jp2", with_jp2_size(jp2.clone(), 60_000, 60_000)),
        ("good.heic", heic.clone()),
    ];
    let skipped = index_keeping_one(d.path(), &files);
    assert_eq!(skipped.len(), 8, "{skipped:?}");
    let reason = |name: &str| skipped.iter().find(|(p, _)| p == name).map(|(_, r)| r.clone()).unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"));
    assert!(reason("bomb.heic").contains("megapixel limit"), "{}", reason("bomb.heic"));
    assert!(reason("sliver.avif").contains("not a photo"), "{}", reason("sliver.avif"));
    assert!(reason("bomb.jp2").contains("megapixel limit"), "{}", reason("bomb.jp2"));
    for (name, _) in &files[..8] {
        assert!(reason(name).len() > 10, "{name}: {}", reason(name));
    }
}

#[test]
fn the_page_shows_a_jpeg_rendition_of_a_heic_and_the_original_of_a_jpeg() {
    let d = tempfile::tempdir().unwrap();
    let png = root().join("samples/shapes/shapes-0000.png");
    encoded(&png, d.path(), "phone.heic");
    image::open(&png).unwrap().to_rgb8().save_with_format(d.path().join("plain.jpg"), image::ImageFormat::Jpeg).unwrap();
    let out = clipfind(d.path(), &demo(), &["index", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = crate::live::serve_model(d.path(), &demo(), &[]);
    let (status, reply) = crate::live::get(&format!("{}/api/search?q=a+shape&min=-1", server.url));
    assert_eq!(status, 200, "{reply}");
    let hit = |name: &str| reply["hits"].as_array().unwrap().iter().find(|h| h["path"] == name).cloned().unwrap_or_else(|| panic!("{name}: {reply}"));
    let (heic, jpeg) = (hit("phone.heic"), hit("plain.jpg"));
    assert_eq!(jpeg["view"], jpeg["image"], "a JPEG is shown as it is");
    assert_eq!(heic["image"], format!("/image/{}", heic["id"]), "the original stays downloadable");
    assert_eq!(heic["view"], format!("/view/{}", heic["id"]));

    let shown = ureq::get(&format!("{}{}", server.url, heic["view"].as_str().unwrap())).call().unwrap();
    assert_eq!(shown.header("content-type"), Some("image/jpeg"));
    assert!(shown.header("cache-control").is_some_and(|c| c.starts_with("private")));
    let etag = shown.header("etag").unwrap().to_string();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut shown.into_reader(), &mut bytes).unwrap();
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).expect("a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (800, 600), "the whole photo, not a thumbnail");
    let again = ureq::get(&format!("{}{}", server.url, heic["view"].as_str().unwrap())).set("If-None-Match", &etag).call().unwrap();
    assert_eq!(again.status(), 304);
    // The rendition comes only from the checked original: once the file changes, none.
    std::fs::write(d.path().join("phone.heic"), b"replaced").unwrap();
    let gone = ureq::get(&format!("{}{}", server.url, heic["view"].as_str().unwrap())).call();
    assert!(matches!(gone, Err(ureq::Error::Status(404, _))), "{gone:?}");
}

/// The Python that writes DNG files (scripts/make-dng.py, with PyPI pidng), from the virtual
/// environment scripts/setup.sh makes.
fn dng_python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| dirs_home().join(".cache"));
    cache.join("clipfind/dng-tools/bin/python")
}

fn dirs_home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME"))
}

/// A DNG of `source`'s pixels as a Bayer mosaic, written as a camera would (see
/// scripts/make-dng.py for `args`: `--preview`, `--date`, `--orientation`).
pub(crate) fn dng(source: &Path, out: &Path, args: &[&str]) -> PathBuf {
    let python = dng_python();
    let script = root().join("scripts/make-dng.py");
    let made = Command::new(&python).arg(script).arg(source).arg(out).args(args).output();
    let made = made.unwrap_or_else(|e| panic!("{} does not run ({e}): run scripts/setup.sh", python.display()));
    assert!(made.status.success(), "make-dng.py {args:?}: {}", String::from_utf8_lossy(&made.stderr));
    out.to_path_buf()
}

/// `bytes` with every one-value LONG entry of TIFF `tag` (little-endian) saying `value`.
fn with_tiff_long(mut bytes: Vec<u8>, tag: u16, value: u32) -> Vec<u8> {
    let mut entry = tag.to_le_bytes().to_vec();
    entry.extend_from_slice(&[4, 0, 1, 0, 0, 0]);
    let at: Vec<usize> = bytes.windows(8).enumerate().filter(|(_, w)| *w == entry.as_slice()).map(|(i, _)| i + 8).collect();
    assert!(!at.is_empty(), "no LONG entry of tag {tag:#x}");
    for i in at {
        bytes[i..i + 4].copy_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// The paths `clipfind search` finds with `extra` options, sorted.
fn found_paths(data: &Path, extra: &[&str]) -> Vec<String> {
    let mut paths: Vec<String> = search_json(data, extra).iter().map(|h| h["path"].as_str().unwrap().to_string()).collect();
    paths.sort();
    paths
}

fn search_json(data: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["search", "a photo", "--json", "--min-score", "-1"];
    args.extend_from_slice(extra);
    let out = clipfind(data, &demo(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

#[test]
fn dng_files_index_from_their_jpeg_preview_or_their_developed_mosaic() {
    let d = tempfile::tempdir().unwrap();
    let png = root().join("samples/shapes/shapes-0000.png");
    let date = ["--date", "2019:07:04 09:30:00"];
    dng(&png, &d.path().join("mosaic.dng"), &date);
    dng(&png, &d.path().join("preview.dng"), &[&date[..], &["--preview"]].concat());
    dng(&png, &d.path().join("portrait.dng"), &["--preview", "--orientation", "6"]);
    let out = clipfind(d.path(), &demo(), &["index", "--json", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["skipped"], serde_json::json!([]), "{summary:#}");
    assert_eq!(summary["total"], 3, "{summary:#}");

    let clip = Clip::load(&demo(), ClipOptions { device: "cpu".parse().unwrap(), threads: 1, ..Default::default() }).unwrap();
    let source = clip.embed_image_file(&png).unwrap();
    for (name, at_least) in [("preview.dng", 0.99), ("mosaic.dng", 0.95)] {
        let similarity = cosine(&clip.embed_image_file(&d.path().join(name)).unwrap(), &source);
        eprintln!("{name}: cosine {similarity:.5} to its source PNG");
        assert!(similarity >= at_least, "{name}: cosine {similarity} to its source");
    }

    let hits = search_json(d.path(), &[]);
    let hit = |name: &str| hits.iter().find(|h| h["path"] == name).cloned().unwrap_or_else(|| panic!("{name}: {hits:?}"));
    let size = |h: &Value| (h["width"].as_u64().unwrap(), h["height"].as_u64().unwrap());
    assert_eq!(size(&hit("preview.dng")), (800, 600));
    assert_eq!(size(&hit("mosaic.dng")), (800, 600));
    assert_eq!(size(&hit("portrait.dng")), (600, 800), "turned upright by the DNG's orientation");
    // The EXIF capture date inside the raw file.
    assert_eq!(found_paths(d.path(), &["--after", "2019-07-01", "--before", "2019-07-31"]), ["mosaic.dng", "preview.dng"]);
}

#[test]
fn damaged_and_oversized_raw_files_are_skipped_with_a_reason() {
    let d = tempfile::tempdir().unwrap();
    let made = tempfile::tempdir().unwrap();
    let png = root().join("samples/shapes/shapes-0000.png");
    let mosaic = std::fs::read(dng(&png, &made.path().join("m.dng"), &[])).unwrap();
    let preview = std::fs::read(dng(&png, &made.path().join("p.dng"), &["--preview"])).unwrap();
    let files: [(&str, Vec<u8>); 6] = [
        ("truncated.dng", mosaic[..mosaic.len() / 2].to_vec()),
        ("bomb.dng", with_tiff_long(with_tiff_long(mosaic.clone(), 0x100, 60_000), 0x101, 60_000)),
        ("sliver.dng", with_tiff_long(with_tiff_long(mosaic.clone(), 0x100, 40_000), 0x101, 4)),
        ("header-only.nef", mosaic[..64].to_vec()),
        ("text.cr2", b"II*\0\x08\0\0\0CR not a raw file at all".to_vec()),
        ("good.dng", preview.clone()),
    ];
    let skipped = index_keeping_one(d.path(), &files);
    eprintln!("{skipped:#?}");
    assert_eq!(skipped.len(), 5, "{skipped:?}");
    let reason = |name: &str| skipped.iter().find(|(p, _)| p == name).map(|(_, r)| r.clone()).unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"));
    assert!(reason("bomb.dng").contains("megapixel limit"), "{}", reason("bomb.dng"));
    assert!(reason("sliver.dng").contains("not a photo"), "{}", reason("sliver.dng"));
    for (name, _) in &files[..5] {
        assert!(reason(name).len() > 10, "{name}: {}", reason(name));
    }
}
