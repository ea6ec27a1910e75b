//! `clipfind embed` end to end through the binary, and device selection.

use std::{path::Path, process::Command};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn embed(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .arg("embed")
        .args(args)
        .env("CLIPFIND_MODEL", root().join("models/test-tiny"))
        .env_remove("CLIPFIND_DEVICE")
        .output()
        .unwrap()
}

fn reference_embedding(kind: &str, key: &str, value: &str) -> Vec<f64> {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/reference.json")).unwrap()).unwrap();
    let item = r[kind].as_array().unwrap().iter().find(|t| t[key] == value).unwrap();
    item["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embed_text_prints_the_normalised_reference_vector() {
    let out = embed(&["--text", "a dog sitting on a bench", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<f64> = v["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(got.len(), 512);
    assert!((dot(&got, &got) - 1.0).abs() < 1e-4, "normalised");
    assert!(dot(&got, &reference_embedding("texts", "text", "a dog sitting on a bench")) > 0.99999);
}

#[test]
fn embed_image_plain_output_is_512_numbers() {
    let out = embed(&["--image", root().join("tests/fixtures/images/exif-rotated.jpg").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<f64> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!(got.len(), 512);
    assert!(dot(&got, &reference_embedding("images", "file", "exif-rotated.jpg")) > 0.9999);
}

#[test]
fn a_broken_image_is_a_clear_error() {
    let out = embed(&["--image", root().join("tests/fixtures/broken/header-bomb.png").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("header-bomb.png") && err.contains("20000x20000"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cuda_without_cuda_is_a_clear_error_and_auto_falls_back_to_cpu() {
    let out = embed(&["--text", "x", "--device", "cuda"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cuda:0 was asked for") && err.contains("no CUDA support"), "{err}");

    let out = embed(&["--text", "x", "--device", "auto"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("device auto: running on cpu"));
}

#[test]
fn embed_needs_exactly_one_input() {
    assert!(!embed(&[]).status.success());
    assert!(!embed(&["--text", "a", "--image", "b.jpg"]).status.success());
}
