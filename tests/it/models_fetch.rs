//! `clipfind models fetch` against a local stand-in for the Hugging Face Hub (HF_ENDPOINT) that
//! answers as today's Hub does (307 with a relative Location + gzip + chunked for regular files,
//! 302 + `X-Linked-*` + Range for LFS files), as the older Hub did (200 directly), and as a mirror
//! that sends no `X-Linked-*` or `ETag` at all (refused: nothing verifies its files). It serves
//! Xenova's OpenAI CLIP repository with models/test-tiny, and each curated Immich repository with
//! the tiny model of its family in Immich's layout (tests/fixtures/families/). It can also misbehave:
//! send a file that never ends, or a gzip bomb.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderMap, Method, StatusCode, Uri},
    response::Response,
    Router,
};
use sha1::Sha1;
use sha2::{Digest, Sha256};

const REPO: &str = "Xenova/clip-vit-base-patch32";
/// The commit clipfind pins; `main` resolves to it.
const PINNED: &str = "d15189d7028b43f1d3e65039190477f6af591c2a";
/// Another commit of the same repository (same files), for `--revision`.
const OTHER: &str = "0123456789abcdef0123456789abcdef01234567";
const FILES: [(&str, &str); 4] = [
    ("onnx/text_model.onnx", "text.onnx"),
    ("onnx/vision_model.onnx", "vision.onnx"),
    ("tokenizer.json", "tokenizer.json"),
    ("onnx/text_model_quantized.onnx", "text-int8.onnx"),
];

/// The commit `main` of every repository but Xenova's resolves to in the stand-in.
const MAIN_COMMIT: &str = "1111111111111111111111111111111111111111";
/// Each curated Immich model: (clipfind name, repository, tiny model of its family).
const IMMICH_REPOS: [(&str, &str, &str); 4] = [
    ("ViT-B-32__laion2b-s34b-b79k", "immich-app/ViT-B-32__laion2b-s34b-b79k", "laion"),
    ("ViT-B-32-SigLIP2-256__webli", "immich-app/ViT-B-32-SigLIP2-256__webli", "siglip2"),
    ("ViT-B-16-SigLIP2__webli", "immich-app/ViT-B-16-SigLIP2__webli", "siglip2"),
    ("XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k", "immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k", "xlmr"),
];
/// Immich's layout.
const IMMICH_FILES: [&str; 6] = [
    "config.json",
    "textual/model.onnx",
    "textual/tokenizer.json",
    "textual/tokenizer_config.json",
    "visual/model.onnx",
    "visual/preprocess_cfg.json",
];

/// A repository in clipfind's own layout (a converted Chinese-CLIP, published by someone).
const CLIPFIND_REPO: &str = "someone/chinese-clip-tiny";
const CLIPFIND_FILES: [&str; 4] = ["clipfind-model.json", "text.onnx", "vision.onnx", "tokenizer.json"];
/// A repository that holds no model.
const EMPTY_REPO: &str = "someone/not-a-model";

/// A repository the stand-in serves: each path in it, and the committed file served for it.
struct Repo {
    name: &'static str,
    files: Vec<(&'static str, PathBuf)>,
}

impl Repo {
    fn file(&self, remote: &str) -> Option<&Path> {
        self.files.iter().find(|(r, _)| *r == remote).map(|(_, source)| source.as_path())
    }

    /// The commit a revision of this repository resolves to, if it exists.
    fn commit(&self, revision: &str) -> Option<&'static str> {
        match (self.name == REPO, revision) {
            (true, "main" | PINNED) => Some(PINNED),
            (true, OTHER) => Some(OTHER),
            (false, "main" | MAIN_COMMIT) => Some(MAIN_COMMIT),
            _ => None,
        }
    }
}

fn repositories() -> Vec<Repo> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let xenova = FILES.iter().map(|(remote, local)| (*remote, root.join("models/test-tiny").join(local))).collect();
    let mut repos = vec![Repo { name: REPO, files: xenova }];
    for (_, repo, family) in IMMICH_REPOS {
        let files = IMMICH_FILES.iter().map(|f| (*f, root.join("tests/fixtures/families").join(family).join(f))).collect();
        repos.push(Repo { name: repo, files });
    }
    let cnclip = CLIPFIND_FILES.iter().map(|f| (*f, root.join("tests/fixtures/families/cnclip").join(f))).collect();
    repos.push(Repo { name: CLIPFIND_REPO, files: cnclip });
    repos.push(Repo { name: EMPTY_REPO, files: vec![("README.md", root.join("README.md"))] });
    repos
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// The Hub as it answers today.
    Today,
    /// The Hub before relative redirects: every file 200 directly, `ETag` the blob sha1 or LFS sha256.
    Older,
    /// A mirror: 200 directly, `Content-Length` and `Accept-Ranges` only.
    Mirror,
}

#[derive(Clone)]
struct Hub {
    behaviour: Behaviour,
    repos: Arc<Vec<Repo>>,
    log: Arc<Mutex<Vec<String>>>,
    /// Serve bytes of this file (local name) that do not match its advertised hash.
    corrupt: Option<&'static str>,
    /// Drop the connection half-way through the first download of the vision model.
    interrupt_vision: Arc<AtomicBool>,
    /// Serve this LFS file (local name) at its true advertised size, then zeros without end.
    endless: Option<&'static str>,
    /// Serve this regular file (local name) as gzip that decodes to it and then zeros without end.
    gzip_bomb: Option<&'static str>,
    /// Answer gzip for regular files even when asked for `identity`, so their size is never advertised.
    hide_sizes: bool,
}

impl Hub {
    fn new(behaviour: Behaviour) -> Hub {
        Hub {
            behaviour,
            repos: Arc::new(repositories()),
            log: Arc::default(),
            corrupt: None,
            interrupt_vision: Arc::default(),
            endless: None,
            gzip_bomb: None,
            hide_sizes: false,
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn downloads(&self) -> usize {
        self.log().iter().filter(|l| l.starts_with("GET ") && !l.contains("/resolve/")).count()
    }
}

fn tiny_file(local: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test-tiny").join(local)).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn git_blob_sha1(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    format!("{:x}", h.finalize())
}

fn is_lfs(remote: &str) -> bool {
    remote.ends_with(".onnx")
}

/// The file name of what is served for `remote` (Xenova's files by their local names).
fn local_name(source: &Path) -> &str {
    source.file_name().unwrap().to_str().unwrap()
}

/// The bytes served for a file, corrupted when asked.
fn served(hub: &Hub, source: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(source).unwrap();
    if hub.corrupt == Some(local_name(source)) {
        bytes[100] ^= 0xFF;
    }
    bytes
}

/// `bytes`, then zeros for as long as the client reads.
fn without_end(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let zeros = Bytes::from(vec![0u8; 1 << 20]);
    let first = futures_util::stream::once(async move { Ok(Bytes::from(bytes)) });
    futures_util::StreamExt::chain(first, futures_util::stream::repeat_with(move || Ok(zeros.clone())))
}

/// Gzip that decodes to `bytes`, then to zeros for as long as the client reads: a few KB per GB.
fn gzip_bomb(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    let zeros = vec![0u8; 4 << 20];
    futures_util::stream::repeat_with(move || -> Result<Bytes, std::io::Error> {
        encoder.write_all(&zeros)?;
        encoder.flush()?;
        Ok(Bytes::from(std::mem::take(encoder.get_mut())))
    })
}

fn empty(status: StatusCode) -> Response {
    Response::builder().status(status).body(Body::empty()).unwrap()
}

fn redirect(status: StatusCode, location: &str, commit: &str) -> axum::http::response::Builder {
    let body = format!("Temporary Redirect. Redirecting to {location}");
    Response::builder()
        .status(status)
        .header(header::LOCATION, location)
        .header(header::CONTENT_LENGTH, body.len())
        .header("x-repo-commit", commit)
}

/// Every route of the stand-in.
async fn handle(State(hub): State<Hub>, method: Method, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    hub.log.lock().unwrap().push(format!(
        "{method} {path} range={} accept-encoding={}",
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()).unwrap_or(""),
        headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or(""),
    ));
    for repo in hub.repos.iter() {
        if let Some(rest) = path.strip_prefix(&format!("{}/resolve/", repo.name)) {
            let Some((revision, remote)) = rest.split_once('/') else { return empty(StatusCode::NOT_FOUND) };
            let Some(commit) = repo.commit(revision) else { return empty(StatusCode::NOT_FOUND) };
            return resolve(&hub, repo, &method, &headers, commit, remote);
        }
        if let Some(rest) = path.strip_prefix(&format!("api/resolve-cache/models/{}/", repo.name)) {
            let Some((commit, remote)) = rest.split_once('/') else { return empty(StatusCode::NOT_FOUND) };
            return regular_file(&hub, repo, &method, &headers, commit, remote);
        }
        if let Some(remote) = path.strip_prefix(&format!("cdn/{}/", repo.name)) {
            return lfs_file(&hub, repo, &method, &headers, remote);
        }
    }
    empty(StatusCode::NOT_FOUND)
}

/// `/REPO/resolve/REVISION/FILE`.
fn resolve(hub: &Hub, repo: &Repo, method: &Method, headers: &HeaderMap, commit: &str, remote: &str) -> Response {
    let Some(source) = repo.file(remote) else { return empty(StatusCode::NOT_FOUND) };
    let bytes = std::fs::read(source).unwrap();
    let name = repo.name;
    match (hub.behaviour, is_lfs(remote)) {
        (Behaviour::Today, false) => redirect(
            StatusCode::TEMPORARY_REDIRECT,
            &format!("/api/resolve-cache/models/{name}/{commit}/{remote}"),
            commit,
        )
        .body(Body::empty())
        .unwrap(),
        (Behaviour::Today, true) => redirect(StatusCode::FOUND, &format!("{}/cdn/{name}/{remote}", host(headers)), commit)
            .header("x-linked-size", bytes.len())
            .header("x-linked-etag", format!("\"{}\"", sha256(&bytes)))
            .body(Body::empty())
            .unwrap(),
        (Behaviour::Older, false) => regular_file(hub, repo, method, headers, commit, remote),
        (Behaviour::Older, true) | (Behaviour::Mirror, _) => lfs_file(hub, repo, method, headers, remote),
    }
}

fn host(headers: &HeaderMap) -> String {
    format!("http://{}", headers.get(header::HOST).unwrap().to_str().unwrap())
}

/// A regular (non-LFS) file: `ETag` is the git blob sha1; gzip and chunked when the client accepts gzip.
fn regular_file(hub: &Hub, repo: &Repo, method: &Method, headers: &HeaderMap, commit: &str, remote: &str) -> Response {
    let Some(source) = repo.file(remote) else { return empty(StatusCode::NOT_FOUND) };
    let original = std::fs::read(source).unwrap();
    let bytes = served(hub, source);
    let accepts_gzip = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("gzip"));
    let gzip = accepts_gzip || hub.hide_sizes;
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, format!("\"{}\"", git_blob_sha1(&original)))
        .header("x-repo-commit", commit);
    match (gzip, method == Method::HEAD) {
        (false, true) => response.header(header::CONTENT_LENGTH, bytes.len()).body(Body::empty()).unwrap(),
        (false, false) => response.body(Body::from(bytes)).unwrap(),
        (true, true) => response.header(header::CONTENT_ENCODING, "gzip").body(Body::empty()).unwrap(),
        (true, false) if hub.gzip_bomb == Some(local_name(source)) => {
            response.header(header::CONTENT_ENCODING, "gzip").body(Body::from_stream(gzip_bomb(bytes))).unwrap()
        }
        (true, false) => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&bytes).unwrap();
            let gz = encoder.finish().unwrap();
            // A stream without a length goes out chunked, as the Hub sends it.
            let chunks: Vec<Result<Bytes, std::io::Error>> = gz.chunks(4096).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            response.header(header::CONTENT_ENCODING, "gzip").body(Body::from_stream(futures_util::stream::iter(chunks))).unwrap()
        }
    }
}

/// An LFS file from storage: Range requests honoured.
fn lfs_file(hub: &Hub, repo: &Repo, method: &Method, headers: &HeaderMap, remote: &str) -> Response {
    let Some(source) = repo.file(remote) else { return empty(StatusCode::NOT_FOUND) };
    let original = std::fs::read(source).unwrap();
    let bytes = served(hub, source);
    let mut response = Response::builder().header(header::ACCEPT_RANGES, "bytes");
    if hub.behaviour == Behaviour::Older {
        let etag = if is_lfs(remote) { sha256(&original) } else { git_blob_sha1(&original) };
        response = response.header(header::ETAG, format!("\"{etag}\"")).header("x-repo-commit", repo.commit("main").unwrap());
    }
    let start = headers
        .get(header::RANGE)
        .and_then(|r| r.to_str().ok()?.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok());
    let (status, body) = match start {
        Some(start) => {
            response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()));
            (StatusCode::PARTIAL_CONTENT, bytes[start..].to_vec())
        }
        None => (StatusCode::OK, bytes),
    };
    let response = response.status(status);
    if method == Method::GET && hub.endless == Some(local_name(source)) {
        // The size advertised is true; the body goes on past it.
        return response.body(Body::from_stream(without_end(body))).unwrap();
    }
    let response = response.header(header::CONTENT_LENGTH, body.len());
    if method == Method::HEAD {
        return response.body(Body::empty()).unwrap();
    }
    if local_name(source) == "vision.onnx" && hub.interrupt_vision.swap(false, Ordering::SeqCst) {
        // Half the bytes reach the client, then the connection breaks.
        let half = body.len() / 2;
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::copy_from_slice(&body[..half])), Err(std::io::Error::other("connection reset"))];
        let paced = futures_util::StreamExt::then(futures_util::stream::iter(chunks), |chunk| async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            chunk
        });
        return response.body(Body::from_stream(paced)).unwrap();
    }
    response.body(Body::from(body)).unwrap()
}

/// Starts the stand-in hub on a free loopback port; returns its address.
fn start_hub(hub: Hub) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app = Router::new().fallback(handle).with_state(hub);
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
        .env("CLIPFIND_DEVICE", "cpu")
        .env_remove("CLIPFIND_MODEL")
        .env_remove("CLIPFIND_DATA")
        .env_remove("CLIPFIND_INDEX")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn spec(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("clipfind-model.json")).unwrap()).unwrap()
}

/// The installed folder holds exactly the served files, with their hashes and the revision.
fn assert_installed(models: &Path, revision: &str) {
    let dir: PathBuf = models.join("vit-b32");
    let spec = spec(&dir);
    for (_, local) in FILES {
        let bytes = std::fs::read(dir.join(local)).unwrap();
        assert_eq!(bytes, tiny_file(local), "{local}");
        assert_eq!(spec["sha256"][local], sha256(&bytes), "{local}");
    }
    assert_eq!(spec["revision"], revision);
    assert_eq!(spec["text"]["int8_file"], "text-int8.onnx", "the repository's quantised text tower is recorded for --text-int8");
    assert!(!models.join(".vit-b32.partial").exists(), "the partial folder is renamed into place");
}

/// Nothing called vit-b32 is installed or would be used.
fn assert_not_installed(models: &Path, endpoint: &str) {
    assert!(!models.join("vit-b32").exists());
    let list = clipfind(models, endpoint, &["models", "list"]);
    assert!(!text(&list).contains("vit-b32"), "{}", text(&list));
}

fn copy_fixture(from: &str, to: &Path) {
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images").join(from), to).unwrap();
}

#[test]
fn todays_hub_installs_a_verified_model_that_embeds_indexes_and_searches() {
    let hub = Hub::new(Behaviour::Today);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    // A trailing slash, as users write HF_ENDPOINT, must not end up in the recorded source.
    let out = clipfind(models.path(), &format!("{endpoint}/"), &["models", "fetch"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_installed(models.path(), PINNED);
    assert_eq!(spec(&models.path().join("vit-b32"))["source"], format!("{endpoint}/{REPO}"));
    let log = hub.log();
    assert!(log.iter().any(|l| l.starts_with(&format!("GET {REPO}/resolve/{PINNED}/onnx/vision_model.onnx"))), "{log:#?}");
    assert!(
        log.iter().any(|l| l.starts_with("GET api/resolve-cache/") && l.contains("accept-encoding=gzip")),
        "tokenizer.json came gzip-compressed through the relative redirect: {log:#?}"
    );

    let list = clipfind(models.path(), &endpoint, &["models", "list"]);
    assert!(text(&list).contains("vit-b32") && text(&list).contains("* (default)"), "{}", text(&list));
    // The fetched folder is what `embed`, `index` and `search` now use by default.
    let embed = clipfind(models.path(), &endpoint, &["embed", "--text", "a dog", "--json"]);
    assert!(embed.status.success(), "{}", text(&embed));
    let v: serde_json::Value = serde_json::from_slice(&embed.stdout).unwrap();
    assert_eq!(v["model"], "vit-b32");
    assert_eq!(v["dim"], 512);

    let photos = tempfile::tempdir().unwrap();
    copy_fixture("photo.jpg", &photos.path().join("photo.jpg"));
    copy_fixture("wide.png", &photos.path().join("wide.png"));
    let data = photos.path().to_str().unwrap();
    let index = clipfind(models.path(), &endpoint, &["index", "--data", data, "--json"]);
    assert!(index.status.success(), "{}", text(&index));
    let photo = photos.path().join("photo.jpg");
    let search = clipfind(
        models.path(),
        &endpoint,
        &["search", "--data", data, "--image", photo.to_str().unwrap(), "--min-score", "-1", "--json"],
    );
    assert!(search.status.success(), "{}", text(&search));
    let hits: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 2, "{hits:#}");
    assert_eq!(hits[0]["path"], "photo.jpg", "{hits:#}");
    assert!(hits[0]["score"].as_f64().unwrap() > 0.999, "{hits:#}");
    // Text queries with the fetched int8 text encoder, on the same index.
    let int8 = clipfind(models.path(), &endpoint, &["search", "--data", data, "a photo", "--text-int8", "--min-score", "-1", "--json"]);
    assert!(int8.status.success(), "{}", text(&int8));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&int8.stdout).unwrap().as_array().unwrap().len(), 2);
}

#[test]
fn the_older_hub_installs_too() {
    let hub = Hub::new(Behaviour::Older);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), &endpoint, &["models", "fetch", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_installed(models.path(), PINNED);
}

#[test]
fn a_file_neither_the_hub_nor_clipfind_gives_a_digest_for_is_refused_before_it_is_downloaded() {
    // A mirror sends neither `X-Linked-Etag` nor `ETag`, and clipfind pins no digest for
    // vit-b32's files: nothing could tell them from other bytes.
    let hub = Hub::new(Behaviour::Mirror);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), &endpoint, &["models", "fetch", "--quiet"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the hub gave no digest for text.onnx and clipfind pins none"), "{}", text(&out));
    assert!(hub.log().iter().all(|l| !l.starts_with("GET ")), "nothing downloaded: {:#?}", hub.log());
    assert!(!models.path().join(".vit-b32.partial").exists(), "no empty partial folder");
    assert_not_installed(models.path(), &endpoint);
}

#[test]
fn a_download_longer_than_advertised_is_cut_off_and_removed() {
    let endpoint = start_hub(Hub { endless: Some("vision.onnx"), ..Hub::new(Behaviour::Today) });
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(!out.status.success(), "{}", text(&out));
    let size = tiny_file("vision.onnx").len();
    let message = format!("vision.onnx: the server sent more than the {size} bytes the hub advertised; removed it");
    assert!(text(&out).contains(&message), "{}", text(&out));
    assert!(!models.path().join(".vit-b32.partial/vision.onnx").exists(), "no partial file is kept");
    assert_not_installed(models.path(), &endpoint);
}

#[test]
fn a_gzip_bomb_stops_at_the_advertised_size_or_at_the_cap() {
    let size = tiny_file("tokenizer.json").len();
    for (hide_sizes, message) in [
        (false, format!("tokenizer.json: the server sent more than the {size} bytes the hub advertised; removed it")),
        // No size advertised: the cap for a file that is not ONNX, 64 MiB, counted decoded.
        (true, format!("tokenizer.json: more than {} bytes, the most clipfind accepts", 64 << 20)),
    ] {
        let endpoint = start_hub(Hub { gzip_bomb: Some("tokenizer.json"), hide_sizes, ..Hub::new(Behaviour::Today) });
        let models = tempfile::tempdir().unwrap();
        let out = clipfind(models.path(), &endpoint, &["models", "fetch"]);
        assert!(!out.status.success(), "hide_sizes {hide_sizes}: {}", text(&out));
        assert!(text(&out).contains(&message), "hide_sizes {hide_sizes}: {}", text(&out));
        assert!(!models.path().join(".vit-b32.partial/tokenizer.json").exists(), "hide_sizes {hide_sizes}: removed");
        assert_not_installed(models.path(), &endpoint);
    }
}

#[test]
fn an_installed_intact_model_is_not_downloaded_again_unless_forced() {
    let hub = Hub::new(Behaviour::Today);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    assert!(clipfind(models.path(), &endpoint, &["models", "fetch"]).status.success());
    let downloads = hub.downloads();
    assert_eq!(downloads, FILES.len(), "{:#?}", hub.log());

    let again = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("already installed and intact"), "{}", text(&again));
    assert_eq!(hub.downloads(), downloads, "nothing downloaded: {:#?}", hub.log());

    // A damaged install is not intact: fetch repairs it.
    std::fs::write(models.path().join("vit-b32/vision.onnx"), b"damaged").unwrap();
    let repair = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(repair.status.success() && text(&repair).contains("installed vit-b32"), "{}", text(&repair));
    assert_installed(models.path(), PINNED);

    let forced = clipfind(models.path(), &endpoint, &["models", "fetch", "--force"]);
    assert!(forced.status.success() && text(&forced).contains("installed vit-b32"), "{}", text(&forced));
    assert_eq!(hub.downloads(), downloads * 3, "{:#?}", hub.log());
}

#[test]
fn an_interrupted_lfs_download_resumes_with_a_range_request() {
    let hub = Hub::new(Behaviour::Today);
    hub.interrupt_vision.store(true, Ordering::SeqCst);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();

    let first = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(!first.status.success(), "{}\n{:#?}", text(&first), hub.log());
    assert!(text(&first).contains("vision.onnx: download interrupted"), "{}", text(&first));
    assert!(text(&first).contains("run the command again to resume"), "{}", text(&first));
    assert_not_installed(models.path(), &endpoint);
    let half = std::fs::metadata(models.path().join(".vit-b32.partial/vision.onnx")).unwrap().len();
    assert!(half > 0);

    let second = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        hub.log().iter().any(|l| l.starts_with(&format!("GET cdn/{REPO}/onnx/vision_model.onnx")) && l.contains(&format!("range=bytes={half}-"))),
        "{:#?}",
        hub.log()
    );
    assert_installed(models.path(), PINNED);
}

#[test]
fn corrupt_files_are_refused_removed_and_never_installed() {
    for (local, behaviour, message) in [
        ("tokenizer.json", Behaviour::Today, "tokenizer.json is corrupt: git blob sha1"),
        ("tokenizer.json", Behaviour::Older, "tokenizer.json is corrupt: git blob sha1"),
        ("vision.onnx", Behaviour::Today, "vision.onnx is corrupt: sha256"),
        ("vision.onnx", Behaviour::Older, "vision.onnx is corrupt: sha256"),
    ] {
        let endpoint = start_hub(Hub { corrupt: Some(local), ..Hub::new(behaviour) });
        let models = tempfile::tempdir().unwrap();
        let out = clipfind(models.path(), &endpoint, &["models", "fetch"]);
        assert!(!out.status.success(), "{local} {behaviour:?}");
        assert!(text(&out).contains(message), "{local} {behaviour:?}: {}", text(&out));
        assert!(!models.path().join(".vit-b32.partial").join(local).exists(), "{local} removed");
        assert_not_installed(models.path(), &endpoint);
    }
}

#[test]
fn a_revision_can_be_chosen_and_an_unknown_one_is_a_clear_error() {
    let hub = Hub::new(Behaviour::Today);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), &endpoint, &["models", "fetch", "--revision", OTHER]);
    assert!(out.status.success(), "{}", text(&out));
    assert_installed(models.path(), OTHER);
    // The pinned revision is another model as far as the install is concerned.
    let pinned = clipfind(models.path(), &endpoint, &["models", "fetch"]);
    assert!(text(&pinned).contains("installed vit-b32"), "{}", text(&pinned));
    assert_installed(models.path(), PINNED);

    let unknown = clipfind(models.path(), &endpoint, &["models", "fetch", "--revision", "no-such-branch", "--force"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("HTTP 404 (no such repository, revision or file)"), "{}", text(&unknown));
    assert_installed(models.path(), PINNED);
}

#[test]
fn offline_fetch_fails_with_a_clear_message_and_leaves_nothing() {
    let models = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let out = clipfind(models.path(), "http://127.0.0.1:9", &["models", "fetch"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("needs internet") && msg.contains("HF_ENDPOINT"), "{msg}");
    let url = format!("http://127.0.0.1:9/{REPO}/resolve/{PINNED}/onnx/text_model.onnx");
    assert_eq!(msg.matches(&url).count(), 1, "the URL is said once: {msg}");
    assert!(!models.path().join("vit-b32").exists());
    assert!(!models.path().join(".vit-b32.partial").exists(), "no empty partial folder");
}

#[test]
fn unknown_models_are_a_usage_error() {
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), "http://127.0.0.1:9", &["models", "fetch", "vit-h14"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown model `vit-h14`; downloadable: vit-b32, ViT-B-32__laion2b-s34b-b79k"), "{}", text(&out));
    assert!(text(&out).contains("or a Hub repository OWNER/NAME"), "{}", text(&out));
}

#[test]
fn every_curated_model_installs_from_its_repository_layout_then_indexes_and_searches() {
    let hub = Hub::new(Behaviour::Today);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    let available = clipfind(models.path(), &endpoint, &["models", "list", "--available"]);
    for (name, repo, _) in IMMICH_REPOS {
        assert!(text(&available).contains(name) && text(&available).contains(repo), "{}", text(&available));
    }

    let photos = tempfile::tempdir().unwrap();
    for file in ["photo.jpg", "wide.png", "portrait.jpg"] {
        copy_fixture(file, &photos.path().join(file));
    }
    let data = photos.path().to_str().unwrap();
    let photo = photos.path().join("photo.jpg");
    for (name, repo, family) in IMMICH_REPOS {
        let out = clipfind(models.path(), &endpoint, &["models", "fetch", name]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let dir = models.path().join(name);
        for file in IMMICH_FILES {
            let want = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/families").join(family).join(file)).unwrap();
            assert_eq!(std::fs::read(dir.join(file)).unwrap(), want, "{name}: {file} kept at its path in the repository");
        }
        let installed = spec(&dir);
        assert_eq!(installed["revision"], MAIN_COMMIT, "{name}: main resolved to the commit the hub served");
        assert_eq!(installed["source"], format!("{endpoint}/{repo}"));
        assert_eq!(installed["format"], 2);
        assert!(hub.log().iter().any(|l| l.starts_with(&format!("GET cdn/{repo}/visual/model.onnx"))), "{:#?}", hub.log());
        // Following `main`, an intact install is kept as it is (`--force` updates it).
        let again = clipfind(models.path(), &endpoint, &["models", "fetch", name]);
        assert!(text(&again).contains("already installed and intact"), "{name}: {}", text(&again));

        // Switching the library to this model re-embeds it; search then follows the index's model.
        let index = clipfind(models.path(), &endpoint, &["index", "--data", data, "--model", name, "--rebuild-on-model-change", "--json"]);
        assert!(index.status.success(), "{name}: {}", text(&index));
        let search = clipfind(models.path(), &endpoint, &["search", "--data", data, "--image", photo.to_str().unwrap(), "--min-score", "-1", "--json"]);
        assert!(search.status.success(), "{name}: {}", text(&search));
        let hits: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
        assert_eq!(hits.as_array().unwrap().len(), 3, "{name}: {hits:#}");
        assert_eq!(hits[0]["path"], "photo.jpg", "{name}: {hits:#}");
        assert!(hits[0]["score"].as_f64().unwrap() > 0.999, "{name}: {hits:#}");
        let query = clipfind(models.path(), &endpoint, &["search", "--data", data, "蓝色的圆", "--min-score", "-1", "--json"]);
        assert!(query.status.success(), "{name}: {}", text(&query));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&query.stdout).unwrap().as_array().unwrap().len(), 3);
        let embed = clipfind(models.path(), &endpoint, &["embed", "--model", name, "--text", "a dog", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&embed.stdout).unwrap();
        assert_eq!(v["model"], name);
    }
    let list = clipfind(models.path(), &endpoint, &["models", "list"]);
    assert!(IMMICH_REPOS.iter().all(|(name, ..)| text(&list).contains(name)), "{}", text(&list));
}

#[test]
fn a_repository_in_clipfinds_layout_installs_verified_and_answers_chinese_queries() {
    let hub = Hub::new(Behaviour::Today);
    let endpoint = start_hub(hub.clone());
    let models = tempfile::tempdir().unwrap();
    let out = clipfind(models.path(), &endpoint, &["models", "fetch", CLIPFIND_REPO]);
    assert!(out.status.success(), "{}\n{:#?}", text(&out), hub.log());
    let dir = models.path().join("chinese-clip-tiny");
    let published = spec(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/families/cnclip"));
    for file in &CLIPFIND_FILES[1..] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert_eq!(sha256(&bytes), published["sha256"][*file], "{file}");
    }
    let installed = spec(&dir);
    assert_eq!((installed["revision"].as_str(), installed["family"].as_str()), (Some(MAIN_COMMIT), Some("chinese-clip")));
    assert_eq!(installed["source"], format!("{endpoint}/{CLIPFIND_REPO}"));
    assert_eq!(installed["text"]["padding"], "fixed", "the publisher's description is kept");

    // Installed and intact: nothing is downloaded again.
    let downloads = hub.downloads();
    let again = clipfind(models.path(), &endpoint, &["models", "fetch", CLIPFIND_REPO]);
    assert!(text(&again).contains("already installed and intact"), "{}", text(&again));
    assert_eq!(hub.downloads(), downloads);

    let photos = tempfile::tempdir().unwrap();
    for file in ["photo.jpg", "wide.png"] {
        copy_fixture(file, &photos.path().join(file));
    }
    let data = photos.path().to_str().unwrap();
    let index = clipfind(models.path(), &endpoint, &["index", "--data", data, "--model", "chinese-clip-tiny", "--json"]);
    assert!(index.status.success(), "{}", text(&index));
    let search = clipfind(models.path(), &endpoint, &["search", "--data", data, "蓝色的圆", "--min-score", "-1", "--json"]);
    assert!(search.status.success(), "{}", text(&search));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&search.stdout).unwrap().as_array().unwrap().len(), 2);

    let empty = clipfind(models.path(), &endpoint, &["models", "fetch", EMPTY_REPO]);
    assert!(!empty.status.success());
    assert!(text(&empty).contains("holds no model clipfind can read"), "{}", text(&empty));
    assert!(!models.path().join("not-a-model").exists() && !models.path().join(".not-a-model.partial").exists());
}
