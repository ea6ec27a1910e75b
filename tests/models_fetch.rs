//! `clipfind models fetch` against a local stand-in for the Hugging Face Hub (HF_ENDPOINT):
//! redirects, size and sha256 headers, resuming, corruption, and being offline.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Arc, Mutex},
};

use axum::{
    body::Body,
    extract::{Path as UrlPath, State},
    http::{header, HeaderMap, Method, StatusCode},
    response::Response,
    routing::any,
    Router,
};
use sha2::{Digest, Sha256};

const REPO: &str = "Xenova/clip-vit-base-patch32";
const FILES: [(&str, &str); 3] =
    [("onnx/text_model.onnx", "text.onnx"), ("onnx/vision_model.onnx", "vision.onnx"), ("tokenizer.json", "tokenizer.json")];

#[derive(Clone, Default)]
struct Hub {
    log: Arc<Mutex<Vec<String>>>,
    /// Serve bytes that do not match the advertised sha256.
    corrupt: bool,
}

fn tiny_file(local: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test-tiny").join(local)).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn local_name(remote: &str) -> Option<&'static str> {
    FILES.iter().find(|(r, _)| *r == remote).map(|(_, l)| *l)
}

/// `/REPO/resolve/main/PATH`: HEAD and GET answer with a redirect carrying the LFS headers, as
/// the Hub does; `/cdn/PATH` serves the bytes with Range support.
async fn resolve(State(hub): State<Hub>, method: Method, UrlPath(path): UrlPath<String>) -> Response {
    let Some(remote) = path.strip_prefix(&format!("{REPO}/resolve/main/")) else {
        return Response::builder().status(404).body(Body::empty()).unwrap();
    };
    let Some(local) = local_name(remote) else { return Response::builder().status(404).body(Body::empty()).unwrap() };
    hub.log.lock().unwrap().push(format!("{method} resolve {remote}"));
    let bytes = tiny_file(local);
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, format!("/cdn/{remote}"))
        .header("x-linked-size", bytes.len().to_string())
        .header("x-linked-etag", format!("\"{}\"", sha256(&bytes)))
        .body(Body::empty())
        .unwrap()
}

async fn cdn(State(hub): State<Hub>, headers: HeaderMap, UrlPath(remote): UrlPath<String>) -> Response {
    let local = local_name(&remote).unwrap();
    let mut bytes = tiny_file(local);
    if hub.corrupt {
        bytes[100] ^= 0xFF;
    }
    let range = headers.get(header::RANGE).map(|v| v.to_str().unwrap().to_string());
    hub.log.lock().unwrap().push(format!("GET cdn {remote} range={}", range.clone().unwrap_or_default()));
    match range.and_then(|r| r.strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).map(|s| s.parse::<usize>().unwrap())) {
        Some(start) => Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()))
            .body(Body::from(bytes[start..].to_vec()))
            .unwrap(),
        None => Response::builder().status(200).body(Body::from(bytes)).unwrap(),
    }
}

/// Starts the stand-in hub on a free loopback port; returns its address.
fn start_hub(hub: Hub) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/cdn/{*remote}", any(cdn))
                .route("/{*path}", any(resolve))
                .with_state(hub);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

fn clipfind(models: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(args)
        .env("CLIPFIND_MODELS", models)
        .env("HF_ENDPOINT", endpoint)
        .env_remove("CLIPFIND_MODEL")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn fetch_installs_a_verified_model_that_loads() {
    let hub = Hub::default();
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(out.status.success(), "{}", text(&out));

    let dir: PathBuf = models.path().join("vit-b32");
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("clipfind-model.json")).unwrap()).unwrap();
    for (_, local) in FILES {
        assert_eq!(spec["sha256"][local], sha256(&std::fs::read(dir.join(local)).unwrap()), "{local}");
        assert_eq!(std::fs::read(dir.join(local)).unwrap(), tiny_file(local), "{local}");
    }
    assert!(!models.path().join(".vit-b32.partial").exists(), "the partial folder is renamed into place");

    let list = clipfind(models.path(), &endpoint, &["models", "list"]);
    assert!(text(&list).contains("vit-b32") && text(&list).contains("* (default)"), "{}", text(&list));
    // The fetched folder is what `embed` now uses by default.
    let embed = clipfind(models.path(), &endpoint, &["embed", "--text", "a dog", "--json", "--device", "cpu"]);
    assert!(embed.status.success(), "{}", text(&embed));
    let v: serde_json::Value = serde_json::from_slice(&embed.stdout).unwrap();
    assert_eq!(v["model"], "vit-b32");
    assert_eq!(v["dim"], 512);
}

#[test]
fn fetch_resumes_a_partial_download_with_a_range_request() {
    let hub = Hub::default();
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    let partial = models.path().join(".vit-b32.partial");
    std::fs::create_dir_all(&partial).unwrap();
    let vision = tiny_file("vision.onnx");
    let half = vision.len() / 2;
    std::fs::write(partial.join("vision.onnx"), &vision[..half]).unwrap();

    let out = clipfind(models.path(), &endpoint, &["models", "fetch", "vit-b32", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = hub.log.lock().unwrap().clone();
    assert!(log.contains(&format!("GET cdn onnx/vision_model.onnx range=bytes={half}-")), "{log:#?}");
    assert_eq!(std::fs::read(models.path().join("vit-b32/vision.onnx")).unwrap(), vision);
}

#[test]
fn a_corrupt_download_is_refused_and_not_installed() {
    let endpoint = start_hub(Hub { corrupt: true, ..Hub::default() });
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is corrupt: sha256"), "{}", text(&out));
    assert!(!models.path().join("vit-b32").exists());
}

#[test]
fn offline_fetch_fails_with_a_clear_message() {
    let models = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let out = clipfind(models.path(), "http://127.0.0.1:9", &["models", "fetch"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("needs internet") && msg.contains("HF_ENDPOINT"), "{msg}");
    assert!(!models.path().join("vit-b32").exists());
}

#[test]
fn unknown_models_are_a_usage_error() {
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), "http://127.0.0.1:9", &["models", "fetch", "vit-h14"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown model `vit-h14`; downloadable: vit-b32"), "{}", text(&out));
}
