//! A library of several folders: searched together, paths named by folder, folders added to and
//! taken off the list without re-embedding what stays.

use std::{path::Path, process::Command};

use serde_json::Value;

use crate::indexing::{fixture, n, tiny};

fn clipfind(folders: &[&Path], index: &Path, args: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clipfind"));
    command.args(args).arg("--index").arg(index).env("CLIPFIND_MODEL", tiny()).env("CLIPFIND_DEVICE", "cpu").env_remove("CLIPFIND_DATA");
    for folder in folders {
        command.arg("--data").arg(folder);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn put(folder: &Path, from: &str, to: &str) {
    let target = folder.join(to);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(fixture(from), target).unwrap();
}

/// (folder, path) of every image a search finds.
fn found(folders: &[&Path], index: &Path) -> Vec<(Option<String>, String)> {
    let hits = clipfind(folders, index, &["search", "anything", "--json", "-k", "50", "--min-score", "-1"]);
    let mut found: Vec<_> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["folder"].as_str().map(String::from), h["path"].as_str().unwrap().to_string()))
        .collect();
    found.sort();
    found
}

#[test]
fn folders_are_added_searched_together_and_taken_off_the_list() {
    let d = tempfile::tempdir().unwrap();
    let (photos, phone, index) = (d.path().join("photos"), d.path().join("phone"), d.path().join("index"));
    put(&photos, "images/photo.jpg", "photo.jpg");
    put(&photos, "images/wide.png", "trips/wide.png");
    put(&photos, "images/rgba.png", "same.png");
    put(&phone, "images/portrait.jpg", "portrait.jpg");
    put(&phone, "images/gray.png", "same.png");

    let first = clipfind(&[&photos], &index, &["index", "--json"]);
    assert_eq!((n(&first, "total"), n(&first, "embedded")), (3, 3));
    let plain = found(&[], &index);
    assert_eq!(plain[0], (None, "photo.jpg".to_string()), "one folder: plain paths, no folder name");

    // A second folder: only its images are embedded; the first one's keep their vectors.
    let both = clipfind(&[&photos, &phone], &index, &["index", "--json"]);
    assert_eq!((n(&both, "total"), n(&both, "embedded"), n(&both, "new"), n(&both, "removed")), (5, 2, 2, 0), "{both:#}");
    let named = |folder: &str, path: &str| (Some(folder.to_string()), path.to_string());
    let expected = vec![
        named("phone", "portrait.jpg"),
        named("phone", "same.png"),
        named("photos", "photo.jpg"),
        named("photos", "same.png"),
        named("photos", "trips/wide.png"),
    ];
    assert_eq!(found(&[], &index), expected, "searched together, each path relative to its named folder");
    let again = clipfind(&[&photos, &phone], &index, &["index", "--json"]);
    assert_eq!((n(&again, "embedded"), n(&again, "unchanged")), (0, 5));

    // `--like` takes the path as results show it, or the file's own path.
    let like = clipfind(&[], &index, &["search", "--like", "phone/same.png", "--json", "-k", "1", "--min-score", "-1"]);
    assert_eq!(like.as_array().unwrap().len(), 1);
    let absolute = phone.join("same.png").canonicalize().unwrap();
    let like = clipfind(&[], &index, &["search", "--like", absolute.to_str().unwrap(), "--json", "-k", "1", "--min-score", "-1"]);
    assert_eq!(like.as_array().unwrap().len(), 1);

    // CLIPFIND_DATA=A:B is the same library.
    let out = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--json", "--index"])
        .arg(&index)
        .env("CLIPFIND_DATA", format!("{}:{}", photos.display(), phone.display()))
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((n(&summary, "total"), n(&summary, "embedded"), n(&summary, "removed")), (5, 0, 0));

    // Taking `photos` off the list drops its images, says so, and leaves plain paths again.
    let out = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--json", "--index"])
        .arg(&index)
        .arg("--data")
        .arg(&phone)
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is no longer one of the library's folders: its 3 images leave the index"), "{stderr}");
    let only = serde_json::from_slice::<Value>(&out.stdout).unwrap();
    assert_eq!((n(&only, "total"), n(&only, "embedded"), n(&only, "removed")), (2, 0, 3), "{only:#}");
    assert_eq!(found(&[], &index), vec![(None, "portrait.jpg".to_string()), (None, "same.png".to_string())]);
}
