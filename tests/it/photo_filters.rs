//! Photo metadata, filters, date sorting and query arithmetic end to end: a generated library of
//! JPEGs with known EXIF (capture times with and without offsets, cameras, GPS), searched through
//! the CLI, the JSON API and the engine; and the in-place upgrade of an index built by the
//! previous release (catalog format 2).

use std::{collections::BTreeSet, path::Path};

use clipfind_engine::{
    catalog::filter::Filter,
    catalog::Catalog,
    clip::{Clip, ClipOptions},
    media::photo_meta::{
        testing::{
            exif::{Field, In, Rational, Tag, Value as ExifValue},
            jpeg_with_exif,
        },
        TakenSource,
    },
    search::query::{self, Query},
    search::searcher::{SearchParams, Searcher, Sort},
};
use serde_json::Value;

use crate::{
    growing::images,
    indexing::{clipfind, index, root, tiny},
    live::{get, serve_model},
};

fn ascii(tag: Tag, text: &str) -> Field {
    Field { tag, ifd_num: In::PRIMARY, value: ExifValue::Ascii(vec![text.as_bytes().to_vec()]) }
}

/// Degrees, minutes and hundredths of seconds, as cameras write GPS positions.
fn degrees(tag: Tag, value: f64) -> Field {
    let hundredths = (value.fract() * 360_000.0).round() as u32;
    let (minutes, hundredths) = (hundredths / 6000, hundredths % 6000);
    let parts = vec![Rational { num: value as u32, denom: 1 }, Rational { num: minutes, denom: 1 }, Rational { num: hundredths, denom: 100 }];
    Field { tag, ifd_num: In::PRIMARY, value: ExifValue::Rational(parts) }
}

/// 60 photos: 6 holiday shots (June 2023, +02:00, Canon, GPS, landscape), 3 older ones in a
/// sibling folder (January 2023, no camera, portrait), 6 phone photos (only EXIF DateTime,
/// March 2024, portrait) and 45 PNGs without EXIF (dated by their file time).
fn library(dir: &Path) {
    let write = |rel: &str, bytes: Vec<u8>| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    for i in 0..6 {
        let fields = [
            ascii(Tag::Make, "Canon"),
            ascii(Tag::Model, "Canon EOS R5"),
            ascii(Tag::DateTimeOriginal, &format!("2023:06:{:02} 12:00:00", 10 + i)),
            ascii(Tag::OffsetTimeOriginal, "+02:00"),
            ascii(Tag::GPSLatitudeRef, "N"),
            degrees(Tag::GPSLatitude, 43.5 + i as f64 / 100.0),
            ascii(Tag::GPSLongitudeRef, "W"),
            degrees(Tag::GPSLongitude, 7.25),
        ];
        write(&format!("2023/holidays/beach-{i}.jpg"), jpeg_with_exif(64 + i, 48, &fields));
    }
    for i in 0..3 {
        write(&format!("2023/holidays-old/x-{i}.jpg"), jpeg_with_exif(48, 64 + i, &[ascii(Tag::DateTimeOriginal, "2023:01:05 08:00:00")]));
    }
    for i in 0..6 {
        let fields = [ascii(Tag::Make, "Apple"), ascii(Tag::Model, "iPhone 15 Pro"), ascii(Tag::DateTime, &format!("2024:03:0{} 18:30:00", i + 1))];
        write(&format!("2024/phone-{i}.jpg"), jpeg_with_exif(40, 60 + i, &fields));
    }
    std::fs::create_dir_all(dir.join("misc")).unwrap();
    images(&dir.join("misc"), 0..45);
}

/// The paths a CLI search returns, with `args` added.
fn search_paths(data: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["search", "anything", "--json", "--min-score", "-1"];
    if !args.contains(&"-k") {
        all.extend(["-k", "100"]);
    }
    all.extend_from_slice(args);
    let out = clipfind(data, &tiny(), &all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    hits.as_array().unwrap().iter().map(|h| h["path"].as_str().unwrap().to_string()).collect()
}

fn set(paths: Vec<String>) -> BTreeSet<String> {
    paths.into_iter().collect()
}

fn names(prefix: &str, range: std::ops::Range<u32>, ext: &str) -> BTreeSet<String> {
    range.map(|i| format!("{prefix}{i}{ext}")).collect()
}

#[test]
fn every_filter_alone_and_combined_through_the_cli() {
    let d = tempfile::tempdir().unwrap();
    library(d.path());
    index(d.path(), &[]);
    let beach = names("2023/holidays/beach-", 0..6, ".jpg");
    let older = names("2023/holidays-old/x-", 0..3, ".jpg");
    let phone = names("2024/phone-", 0..6, ".jpg");
    let search = |args: &[&str]| set(search_paths(d.path(), args));
    assert_eq!(search(&[]).len(), 60);
    assert_eq!(search(&["--in", "2023/holidays"]), beach, "a folder, not its prefix-sharing sibling");
    assert_eq!(search(&["--in", "2023"]), beach.union(&older).cloned().collect());
    assert_eq!(search(&["--taken", "2023-06"]), beach);
    assert_eq!(search(&["--after", "2023-06-12", "--before", "2023-06-14"]), names("2023/holidays/beach-", 2..4, ".jpg"));
    assert_eq!(search(&["--taken", "2024-03"]), phone, "EXIF DateTime stands in for DateTimeOriginal");
    assert_eq!(search(&["--before", "2023-06"]), older);
    assert_eq!(search(&["--ext", "png"]).len(), 45);
    assert_eq!(search(&["--media", "video"]).len(), 0);
    assert_eq!(search(&["--orientation", "portrait"]), older.union(&phone).cloned().collect());
    assert_eq!(search(&["--camera", "iphone"]), phone);
    assert_eq!(search(&["--located", "1"]), beach);
    assert_eq!(search(&["--located", "0"]).len(), 54);
    let combined = search(&["--in", "2023", "--orientation", "landscape", "--camera", "canon", "--after", "2023-06-15"]);
    assert_eq!(combined, names("2023/holidays/beach-", 5..6, ".jpg"));
    // A bad value names the option and the formats it takes.
    let out = clipfind(d.path(), &tiny(), &["search", "x", "--after", "2023-13"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--after") && err.contains("YYYY-MM-DD"), "{err}");
}

#[test]
fn capture_times_keep_their_offset_and_sort_newest_or_oldest_first() {
    let d = tempfile::tempdir().unwrap();
    library(d.path());
    index(d.path(), &[]);
    let out = clipfind(d.path(), &tiny(), &["search", "x", "--json", "-k", "100", "--min-score", "-1", "--in", "2023/holidays", "--sort", "newest"]);
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    let taken: Vec<&str> = hits.as_array().unwrap().iter().map(|h| h["taken"].as_str().unwrap()).collect();
    assert_eq!(taken[0], "2023-06-15T12:00:00+02:00");
    assert_eq!(taken[5], "2023-06-10T12:00:00+02:00");
    assert!(taken.windows(2).all(|w| w[0] > w[1]), "{taken:?}");
    let first = &hits[0];
    assert_eq!(first["taken_source"], "exif-original");
    assert_eq!(first["camera"], "Canon EOS R5", "a model that repeats its make is shown once");
    let (lat, lon) = (first["location"][0].as_f64().unwrap(), first["location"][1].as_f64().unwrap());
    assert!((lat - 43.55).abs() < 1e-3 && (lon + 7.25).abs() < 1e-3, "west is negative: {lat}, {lon}");
    // Oldest first over the whole library; the PNGs, dated by their file times (now), come last.
    let oldest = search_paths(d.path(), &["--sort", "oldest"]);
    assert!(oldest[..3].iter().all(|p| p.starts_with("2023/holidays-old/")), "{oldest:?}");
    assert!(oldest[15..].iter().all(|p| p.starts_with("misc/")), "{oldest:?}");
    let phone = clipfind(d.path(), &tiny(), &["search", "x", "--json", "--min-score", "-1", "--camera", "iphone", "-k", "1"]);
    let phone: Value = serde_json::from_slice(&phone.stdout).unwrap();
    assert_eq!(phone[0]["taken_source"], "exif-datetime");
    assert!(!phone[0]["taken"].as_str().unwrap().contains('+'), "no offset known: local time only");
}

#[test]
fn a_filter_that_keeps_few_images_still_returns_k_when_k_match() {
    let d = tempfile::tempdir().unwrap();
    library(d.path());
    index(d.path(), &[]);
    // 6 of 60: compared exactly among themselves.
    assert_eq!(search_paths(d.path(), &["-k", "6", "--in", "2023/holidays"]).len(), 6);
    assert_eq!(search_paths(d.path(), &["-k", "10", "--in", "2023/holidays"]).len(), 6, "no more than match");
    // 45 of 60: the vector index is asked for more candidates until k pass.
    assert_eq!(search_paths(d.path(), &["-k", "40", "--ext", "png"]).len(), 40);
    assert_eq!(search_paths(d.path(), &["-k", "100", "--ext", "png"]).len(), 45);
    // The same through an approximate index (IVF over 60 images).
    let ivf = tempfile::tempdir().unwrap();
    library(ivf.path());
    index(ivf.path(), &["--exact-up-to", "8"]);
    for (k, filter, expected) in [("40", ["--ext", "png"], 40), ("9", ["--in", "2023"], 9), ("3", ["--camera", "canon"], 3)] {
        let mut args = vec!["-k", k];
        args.extend(filter);
        assert_eq!(search_paths(ivf.path(), &args).len(), expected, "{args:?}");
    }
}

#[test]
fn filters_sorting_and_bad_values_through_the_api() {
    let d = tempfile::tempdir().unwrap();
    library(d.path());
    index(d.path(), &[]);
    let server = serve_model(d.path(), &tiny(), &[]);
    let search = |params: &str| get(&format!("{}/api/search?q=photo&k=100&min=-1&{params}", server.url));
    let paths = |v: &Value| -> BTreeSet<String> { v["hits"].as_array().unwrap().iter().map(|h| h["path"].as_str().unwrap().to_string()).collect() };
    let (status, body) = search("folder=2023/holidays&after=2023-06-12&before=2023-06-14");
    assert_eq!(status, 200);
    assert_eq!(paths(&body), names("2023/holidays/beach-", 2..4, ".jpg"));
    let (_, body) = search("taken=2024&camera=IPHONE&orientation=portrait&located=0&media=image");
    assert_eq!(paths(&body), names("2024/phone-", 0..6, ".jpg"));
    let (_, body) = search("ext=jpg,png&sort=oldest");
    assert_eq!(body["hits"].as_array().unwrap().len(), 60);
    assert_eq!(body["hits"][0]["taken"], "2023-01-05T08:00:00");
    for (params, names_param) in [
        ("after=2023-02-30", "after"),
        ("before=yesterday", "before"),
        ("taken=2023-13", "taken"),
        ("orientation=sideways", "orientation"),
        ("media=audio", "media"),
        ("located=maybe", "located"),
        ("sort=random", "sort"),
        ("ext=j*g", "ext"),
    ] {
        let (status, body) = search(params);
        let error = body["error"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{params}: {body}");
        assert!(error.starts_with(names_param), "{params}: {error}");
    }
    let (_, body) = search("after=2023-13");
    assert!(body["error"].as_str().unwrap().contains("YYYY, YYYY-MM, YYYY-MM-DD"), "{body}");

    // More like an indexed photo, and like an upload, take the same filters.
    let beach_id = get(&format!("{}/api/search?q=x&k=1&min=-1&folder=2023/holidays", server.url)).1["hits"][0]["id"].as_i64().unwrap();
    let (status, body) = get(&format!("{}/api/similar?id={beach_id}&k=100&min=-1&camera=iphone", server.url));
    assert_eq!((status, paths(&body)), (200, names("2024/phone-", 0..6, ".jpg")));
    let upload = |fields: &[(&str, &str)]| -> (u16, Value) {
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").into_bytes());
        }
        body.extend(b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n");
        body.extend(std::fs::read(d.path().join("2024/phone-0.jpg")).unwrap());
        body.extend(b"\r\n--XyZ--\r\n");
        match ureq::post(&format!("{}/api/search_image", server.url)).set("Content-Type", "multipart/form-data; boundary=XyZ").send_bytes(&body) {
            Ok(r) => (r.status(), serde_json::from_str(&r.into_string().unwrap()).unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, serde_json::from_str(&r.into_string().unwrap()).unwrap_or(Value::Null)),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, body) = upload(&[("k", "100"), ("min", "-1"), ("folder", "2023/holidays"), ("sort", "oldest")]);
    assert_eq!((status, paths(&body)), (200, names("2023/holidays/beach-", 0..6, ".jpg")));
    assert_eq!(body["hits"][0]["taken"], "2023-06-10T12:00:00+02:00", "oldest first");
    let (status, body) = upload(&[("before", "2023-02-31")]);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("before:"), "{body}");
}

fn demo_searcher(d: &Path) -> Searcher {
    let clip = Clip::load(&root().join("models/clipfind-demo"), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).unwrap();
    Searcher::open(&d.join(".clipfind"), clip).unwrap()
}

#[test]
fn query_arithmetic_is_the_normalised_weighted_sum_and_names_its_errors() {
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 0..30);
    let out = clipfind(d.path(), &root().join("models/clipfind-demo"), &["index", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let searcher = demo_searcher(d.path());
    let params = SearchParams { k: 10, min_score: -1.0, sort: Sort::Relevance, ..Default::default() };
    let none = Filter::default();
    // Plain queries are unchanged.
    // (search_query also says why each hit matched: by its picture, here.)
    let unmarked = |hits: Vec<clipfind_engine::search::searcher::Hit>| hits.into_iter().map(|h| clipfind_engine::search::searcher::Hit { matched: Vec::new(), ..h }).collect::<Vec<_>>();
    assert_eq!(unmarked(searcher.search_query("  a red circle ", params, &none, None).unwrap()), searcher.search_text("a red circle", params).unwrap());
    // Weighted and negative text terms, and an indexed image mixed with words.
    let any_id = searcher.search_text("anything", params).unwrap()[0].id;
    for text in ["2:a red circle + a blue square", "a red circle -green", format!("#{any_id} + \"a yellow star\"").as_str(), "0.5:#ID - 1.5:\"red\"".replace("ID", &any_id.to_string()).as_str()] {
        let parsed = Query::parse(text).unwrap();
        let vectors: Vec<Vec<f32>> = (parsed.terms.iter())
            .map(|t| match &t.what {
                query::TermKind::Text(s) => searcher.clip().embed_text(s).unwrap(),
                query::TermKind::Image(id) => searcher.vector(*id).unwrap().unwrap(),
            })
            .collect();
        let named: Vec<i64> = parsed.terms.iter().filter_map(|t| if let query::TermKind::Image(id) = t.what { Some(id) } else { None }).collect();
        let expected = searcher.find(&query::combine(&parsed.terms, &vectors).unwrap(), params, &named, &none).unwrap();
        let got = searcher.search_query(text, params, &none, None).unwrap();
        assert_eq!(got.iter().map(|h| h.id).collect::<Vec<_>>(), expected.iter().map(|h| h.id).collect::<Vec<_>>(), "{text}");
        if parsed.has_images() {
            assert!(got.iter().all(|h| h.id != any_id), "the image a query names is not its own result");
        }
    }
    // Errors: the CLI and the API say where.
    let out = clipfind(d.path(), &root().join("models/clipfind-demo"), &["search", "beach +"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at character 7"), "{}", String::from_utf8_lossy(&out.stderr));
    let server = serve_model(d.path(), &root().join("models/clipfind-demo"), &[]);
    for (q, position) in [("beach%20%2B", 7), ("%23abc", 1), ("cat%20%2B%20%2B%20dog", 7), ("%22at%20night", 1), ("%23999999%20%2B%20x", 0)] {
        let (status, body) = get(&format!("{}/api/search?q={q}", server.url));
        let error = body["error"].as_str().unwrap_or_default().to_string();
        match position {
            0 => assert_eq!((status, error.contains("#999999")), (404, true), "an unknown image: {body}"),
            _ => {
                assert_eq!(status, 400, "{q}: {body}");
                assert!(error.contains(&format!("at character {position}")), "{q}: {error}");
            }
        }
    }
    let (status, body) = get(&format!("{}/api/search?q=2%3Aa%20red%20circle%20%2B%20a%20blue%20square&k=5&min=-1", server.url));
    assert_eq!((status, body["hits"].as_array().map_or(0, Vec::len) > 0), (200, true), "{body}");
}

#[test]
fn an_index_built_by_the_previous_release_upgrades_in_place_without_re_embedding() {
    let fixture = root().join("tests/fixtures/format2-library");
    let d = tempfile::tempdir().unwrap();
    let (photos, index_dir) = (d.path().join("photos"), d.path().join("index"));
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::create_dir_all(&index_dir).unwrap();
    for entry in std::fs::read_dir(fixture.join("photos")).unwrap().flatten() {
        std::fs::copy(entry.path(), photos.join(entry.file_name())).unwrap();
    }
    for entry in std::fs::read_dir(fixture.join("index")).unwrap().flatten() {
        std::fs::copy(entry.path(), index_dir.join(entry.file_name())).unwrap();
    }
    let vectors_before = std::fs::read(index_dir.join("vectors-1.f32")).unwrap();
    assert!(Catalog::needs_upgrade(&index_dir));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--json", "--no-thumbnails"])
        .arg("--data")
        .arg(&photos)
        .arg("--index")
        .arg(&index_dir)
        .env("CLIPFIND_MODEL", root().join("models/clipfind-demo"))
        .env("CLIPFIND_DEVICE", "cpu")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["embedded"], 0, "{summary}");
    assert_eq!(summary["total"], 4);
    assert_eq!(std::fs::read(index_dir.join("vectors-1.f32")).unwrap()[..vectors_before.len()], vectors_before[..], "vectors untouched");
    let catalog = Catalog::open_read_only(&index_dir).unwrap();
    assert_eq!(catalog.meta("format").unwrap().as_deref(), Some("6"), "upgraded through formats 3, 4 and 5 to 6");
    let row = |path: &str| catalog.image_at(path).unwrap().unwrap();
    let beach = row("beach.jpg").meta;
    assert_eq!(beach.taken.unwrap().iso(), "2023-06-15T10:30:00+02:00");
    assert_eq!(beach.taken.unwrap().source, TakenSource::ExifOriginal);
    assert_eq!((beach.camera_make.as_deref(), beach.camera_model.as_deref()), (Some("Canon"), Some("Canon EOS R5")));
    let (lat, lon) = beach.location.unwrap();
    assert!((lat - 43.7).abs() < 1e-6 && (lon - 7.26).abs() < 1e-6, "{lat} {lon}");
    assert_eq!(row("city.jpg").meta.taken.unwrap().source, TakenSource::ExifDateTime);
    assert_eq!(row("city.jpg").meta.taken.unwrap().iso(), "2021-12-24T18:00:00");
    for broken_or_plain in ["plain.png", "broken-exif.jpg"] {
        assert_eq!(row(broken_or_plain).meta.taken.unwrap().source, TakenSource::FileTime, "{broken_or_plain} is kept, dated by its file");
    }
    assert!(catalog.without_photo_meta(10).unwrap().is_empty());
}
