//! `clipfind doctor` loads the real native libraries (ONNX Runtime through ort's load-dynamic,
//! FAISS linked statically) and reports what it loaded.

use std::process::Command;

fn clipfind() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clipfind"))
}

#[test]
fn doctor_reports_the_loaded_onnx_runtime_and_faiss_versions() {
    let out = clipfind().args(["doctor", "--json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "doctor failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["onnxruntime"]["version"], "1.31.1", "{report:#}");
    assert!(report["onnxruntime"]["path"].as_str().unwrap().contains("libonnxruntime.so"));
    assert_eq!(report["faiss"]["version"], "1.12.0", "{report:#}");
    assert_eq!(report["faiss"]["self_check"], "passed", "{report:#}");
    // Every image format the set-up provides for is readable, HEIC and AVIF through libheif, RAW
    // developing through LibRaw.
    let formats: Vec<(&str, bool)> = report["formats"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap(), f["readable"].as_bool().unwrap())).collect();
    for name in ["JPEG", "PNG", "WebP", "TIFF", "MPO", "HEIC", "AVIF", "JPEG XL", "RAW previews", "RAW developing (LibRaw)"] {
        assert!(formats.contains(&(name, true)), "{name}: {formats:?}");
    }
}

#[test]
fn doctor_text_names_both_libraries() {
    let out = clipfind().arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("ONNX Runtime 1.31.1 ("), "{stdout}");
    assert!(stdout.contains("FAISS 1.12.0 (static, self-check passed)"), "{stdout}");
}

#[test]
fn doctor_fails_clearly_when_onnx_runtime_is_missing() {
    let out = clipfind().arg("doctor").env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ONNX Runtime library not found"), "{stderr}");
    assert!(stderr.contains("ORT_DYLIB_PATH=/nonexistent"), "{stderr}");
}

#[test]
fn environment_variables_configure_like_flags() {
    let out = clipfind()
        .args(["doctor", "--json"])
        .env("CLIPFIND_DATA", "/photos:/phone")
        .env("CLIPFIND_DEVICE", "cpu")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["data"], serde_json::json!(["/photos", "/phone"]));
    assert_eq!(report["index"], "/photos/.clipfind");
    assert_eq!(report["device"], "cpu");
}

#[test]
fn help_lists_the_subcommands_and_environment() {
    let out = clipfind().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in ["doctor", "serve", "CLIPFIND_DATA", "CLIPFIND_INDEX", "CLIPFIND_MODEL", "CLIPFIND_DEVICE"] {
        assert!(help.contains(expected), "missing {expected} in:\n{help}");
    }
}
