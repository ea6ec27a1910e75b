//! The Milvus store against a real Milvus 2.3 standalone server (PyPI `milvus`, installed by
//! scripts/setup.sh and started here by scripts/milvus-server.py on 127.0.0.1, its data in a
//! temporary folder, user authentication on). One server serves every test of this file, one
//! test at a time (Milvus' embedded etcd takes fixed ports, and some tests stop and restart it);
//! it stops when the test process ends (its standard input closes).

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Output, Stdio},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use clipfind_engine::catalog::Catalog;
use serde_json::Value;

use crate::{
    indexing::{many_images, n, root, tiny},
    live::{get, serve_model},
};

/// The running server: its launcher (whose standard input keeps it alive), port and data.
pub(crate) struct Milvus {
    launcher: Child,
    stdin: Option<ChildStdin>,
    pub(crate) port: u16,
    data: tempfile::TempDir,
}

static SERVER: Mutex<Option<Milvus>> = Mutex::new(None);

/// The shared server, started on first use, held for the whole test.
pub(crate) fn milvus() -> MutexGuard<'static, Option<Milvus>> {
    let mut guard = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        let data = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (launcher, stdin) = launch(data.path(), port);
        *guard = Some(Milvus { launcher, stdin: Some(stdin), port, data });
    }
    guard
}

fn python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    let python = cache.join("clipfind/milvus/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh (it installs Milvus for these tests)", python.display());
    python
}

/// Starts scripts/milvus-server.py and waits until it says Milvus is ready. On a loaded 2-core
/// machine Milvus' embedded etcd sometimes misses its own start-up deadline: one more try.
fn launch(data: &Path, port: u16) -> (Child, ChildStdin) {
    match try_launch(data, port) {
        Ok(started) => started,
        Err(why) => {
            eprintln!("milvus: {why}; starting it once more");
            try_launch(data, port).unwrap_or_else(|why| panic!("{why}"))
        }
    }
}

fn try_launch(data: &Path, port: u16) -> Result<(Child, ChildStdin), String> {
    let started = Instant::now();
    let mut child = Command::new(python())
        .arg(root().join("scripts/milvus-server.py"))
        .arg("--data")
        .arg(data)
        .args(["--port", &port.to_string(), "--auth"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the Milvus launcher starts");
    let stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = lines.any(|l| l.is_ok_and(|l| l.starts_with("ready")));
        let _ = tx.send(ready);
    });
    match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(true) => {
            eprintln!("milvus: ready on 127.0.0.1:{port} in {:.1} s", started.elapsed().as_secs_f64());
            Ok((child, stdin))
        }
        other => {
            stop_launcher(&mut child, stdin);
            Err(format!("Milvus did not start ({other:?}); its logs are in {}/logs", data.display()))
        }
    }
}

impl Milvus {
    /// The store URL of `collection`, with the test server's credentials.
    pub(crate) fn store(&self, collection: &str) -> String {
        format!("milvus://root:Milvus@127.0.0.1:{}/{collection}", self.port)
    }

    /// Stops Milvus and waits.
    pub(crate) fn stop(&mut self) {
        if let Some(stdin) = self.stdin.take() {
            stop_launcher(&mut self.launcher, stdin);
        }
    }

    /// Starts it again on the same port with the same data.
    pub(crate) fn start_again(&mut self) {
        let (launcher, stdin) = launch(self.data.path(), self.port);
        (self.launcher, self.stdin) = (launcher, Some(stdin));
    }
}

/// Closes the launcher's standard input (it then stops Milvus) and waits for it, killing it after
/// 30 s.
fn stop_launcher(launcher: &mut Child, stdin: ChildStdin) {
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    while launcher.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = launcher.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = launcher.wait();
}

/// `clipfind` on the library in `data` with `model`; no index or store from the environment.
fn clipfind(data: &Path, model: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clipfind"));
    command.arg("--data").arg(data).env("CLIPFIND_MODEL", model).env("CLIPFIND_DEVICE", "cpu").env_remove("CLIPFIND_INDEX").env_remove("CLIPFIND_STORE");
    command
}

fn run(data: &Path, args: &[&str]) -> Output {
    clipfind(data, &tiny()).args(args).output().unwrap()
}

fn index(data: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["index", "--json"];
    args.extend_from_slice(extra);
    let out = run(data, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(id, score)` of the hits of `clipfind search --json` (`store`: another store than the
/// recorded one).
fn search(data: &Path, query: &str, store: Option<&str>, extra: &[&str]) -> Vec<(i64, f32)> {
    let mut args = vec!["search", "--json", query, "-k", "20", "--min-score", "-1"];
    args.extend_from_slice(extra);
    if let Some(store) = store {
        args.extend(["--store", store]);
    }
    let out = run(data, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    hits.as_array().unwrap().iter().map(|h| (h["id"].as_i64().unwrap(), h["score"].as_f64().unwrap() as f32)).collect()
}

/// Milvus' answers equal FAISS's exact search over the same vectors (the index folder's own
/// vector file): the same ids in the same order, scores within 1e-5.
fn assert_same_as_faiss(data: &Path, extra: &[&str]) {
    for query in ["a photo", "red", "a dark picture with stripes"] {
        let milvus = search(data, query, None, extra);
        let faiss = search(data, query, Some("local"), extra);
        assert!(!faiss.is_empty(), "{query} {extra:?}: FAISS found something");
        assert_eq!(milvus.iter().map(|h| h.0).collect::<Vec<_>>(), faiss.iter().map(|h| h.0).collect::<Vec<_>>(), "{query} {extra:?}");
        for (m, f) in milvus.iter().zip(&faiss) {
            assert!((m.1 - f.1).abs() <= 1e-5, "{query} {extra:?}: {m:?} vs {f:?}");
        }
    }
}

/// Rows of the collection and vectors of the catalog agree, and the catalog's record of the
/// collection matches it.
fn assert_consistent(data: &Path) {
    let catalog = Catalog::open_read_only(&data.join(".clipfind")).unwrap();
    let vectors = catalog.vector_count().unwrap();
    assert_eq!(catalog.remote_rows().unwrap().len() as u64, vectors, "the catalog's record of the collection");
    assert!(catalog.meta("milvus_synced").unwrap().is_some(), "a complete sync is recorded");
}

/// `count` small JPEGs in `dir`, unlike those of any other `first` (each call its own range).
fn images_from(dir: &Path, first: u32, count: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in first..first + count {
        let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4 + i % 7) as u8, ((y * 5 + i * 13) % 256) as u8, ((i * 7 + x * y + i / 37) % 256) as u8]));
        img.save(dir.join(format!("img-{i:05}.jpg"))).unwrap();
    }
}

fn images(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    many_images(dir, count);
}

#[test]
fn milvus_search_equals_faiss_exact_through_adds_deletes_renames_and_filters() {
    let mut guard = milvus();
    let server = guard.as_mut().unwrap();
    let d = tempfile::tempdir().unwrap();
    images_from(&d.path().join("a"), 0, 60);
    images_from(&d.path().join("b_c"), 100, 40);
    let store = server.store("equal_to_faiss");
    let first = index(d.path(), &["--store", &store]);
    assert_eq!((n(&first, "new"), n(&first, "uploaded")), (100, 100), "{first}");
    assert!(first["vector_index"]["factory"].as_str().unwrap().starts_with("Milvus FLAT"), "{first}");
    assert_consistent(d.path());
    // The index folder remembers the store and its password: plain runs need nothing else.
    assert_same_as_faiss(d.path(), &[]);
    assert_same_as_faiss(d.path(), &["--in", "a"]);
    // A folder name with a LIKE wildcard is matched in the catalog, not by Milvus' prefix match.
    assert_same_as_faiss(d.path(), &["--in", "b_c"]);
    assert_same_as_faiss(d.path(), &["--orientation", "landscape", "--ext", "jpg"]);
    let none = search(d.path(), "a photo", None, &["--orientation", "portrait"]);
    assert!(none.is_empty(), "no portrait images: {none:?}");

    // Unchanged: nothing sent.
    let again = index(d.path(), &[]);
    assert_eq!((n(&again, "uploaded"), n(&again, "remote_deleted")), (0, 0), "{again}");

    // Add 10, delete 5, rename a folder of 40: new rows, deleted rows, moved rows.
    images_from(&d.path().join("new"), 200, 10);
    for i in 0..5 {
        std::fs::remove_file(d.path().join(format!("a/img-{i:05}.jpg"))).unwrap();
    }
    std::fs::rename(d.path().join("b_c"), d.path().join("renamed")).unwrap();
    let changed = index(d.path(), &[]);
    assert_eq!((n(&changed, "new"), n(&changed, "removed"), n(&changed, "renamed"), n(&changed, "embedded")), (10, 5, 40, 10), "{changed}");
    // The 10 new rows and the 40 moved ones (their path is a filter field) are sent.
    assert_eq!(n(&changed, "uploaded"), 50, "{changed}");
    assert_eq!(n(&changed, "remote_deleted"), 5, "{changed}");
    assert_consistent(d.path());
    assert_same_as_faiss(d.path(), &[]);
    assert_same_as_faiss(d.path(), &["--in", "renamed"]);
    assert!(search(d.path(), "a photo", None, &["--in", "b_c"]).is_empty(), "the old folder is gone from Milvus");
}

#[test]
fn a_collection_of_another_model_or_with_wrong_credentials_is_refused() {
    let mut guard = milvus();
    let server = guard.as_mut().unwrap();
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 8);
    let store = server.store("one_model");
    index(d.path(), &["--store", &store]);

    // Another library, another model (the demo's 512-d vectors), the same collection.
    let other = tempfile::tempdir().unwrap();
    images(other.path(), 4);
    let out = clipfind(other.path(), &root().join("models/clipfind-demo")).args(["index", "--store", &store]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("the Milvus collection one_model holds") && stderr.contains("the model `test-tiny`, not `clipfind-demo`"), "{stderr}");
    // Nothing of the other library was written into it.
    assert_same_as_faiss(d.path(), &[]);

    let wrong = store.replace("root:Milvus", "root:wrong");
    let out = run(d.path(), &["search", "a photo", "--store", &wrong]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("refused the user name or password"), "{stderr}");
    assert!(!stderr.contains("wrong"), "the password is not printed: {stderr}");
}

#[test]
fn killed_mid_index_and_mid_upload_the_next_run_makes_milvus_consistent() {
    let mut guard = milvus();
    let server = guard.as_mut().unwrap();
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 2500);
    let store = server.store("killed");
    // Killed while embedding: the catalog holds some checkpoints, Milvus nothing yet.
    let out = clipfind(d.path(), &tiny()).args(["index", "--quiet", "--checkpoint", "64", "--store", &store]).env("CLIPFIND_KILL_AT", "catalog-committed#3").output().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    // Then killed while uploading: after two of three batches of 1000.
    let out = clipfind(d.path(), &tiny()).args(["index", "--quiet"]).env("CLIPFIND_KILL_AT", "milvus-uploaded#2").output().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(Catalog::open_read_only(&d.path().join(".clipfind")).unwrap().meta("milvus_synced").unwrap().is_none(), "no complete sync recorded");

    let resumed = index(d.path(), &[]);
    assert_eq!(n(&resumed, "total"), 2500, "{resumed}");
    assert_eq!(n(&resumed, "embedded"), 0, "everything was embedded before the kill: {resumed}");
    // The rows already in Milvus were found there and not sent again.
    assert_eq!(n(&resumed, "uploaded"), 500, "{resumed}");
    assert_consistent(d.path());
    assert_same_as_faiss(d.path(), &[]);

    // Killed after Milvus flushed every row, before the catalog recorded it: the next run finds
    // them all there by listing, and sends none again.
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 40);
    let store = server.store("killed_flushed");
    let out = clipfind(d.path(), &tiny()).args(["index", "--quiet", "--store", &store]).env("CLIPFIND_KILL_AT", "milvus-flushed#1").output().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(Catalog::open_read_only(&d.path().join(".clipfind")).unwrap().meta("milvus_synced").unwrap().is_none(), "no complete sync recorded");
    let resumed = index(d.path(), &[]);
    assert_eq!((n(&resumed, "total"), n(&resumed, "embedded"), n(&resumed, "uploaded")), (40, 0, 0), "{resumed}");
    assert_consistent(d.path());
    assert_same_as_faiss(d.path(), &[]);
}

#[test]
fn milvus_stopped_mid_run_fails_clearly_loses_nothing_and_the_server_recovers() {
    let mut guard = milvus();
    let server = guard.as_mut().unwrap();
    let d = tempfile::tempdir().unwrap();
    images_from(&d.path().join("first"), 0, 30);
    let store = server.store("stopped");
    index(d.path(), &["--store", &store]);

    // Stopped after the run checked the collection, before it uploads.
    images_from(&d.path().join("second"), 100, 20);
    let pause = d.path().join("paused");
    let child = clipfind(d.path(), &tiny())
        .args(["index", "--json"])
        .env("CLIPFIND_PAUSE_AT", format!("remote-sync@{}", pause.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pause.exists() {
        assert!(Instant::now() < deadline, "the indexer reached the upload");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
    std::fs::remove_file(&pause).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a non-zero exit");
    assert!(stderr.contains("cannot be reached") && stderr.contains("is it running?"), "{stderr}");
    // Nothing is lost: the catalog committed the new images, and a run without Milvus says why.
    let catalog = Catalog::open_read_only(&d.path().join(".clipfind")).unwrap();
    assert_eq!(catalog.count().unwrap(), 50);
    let out = run(d.path(), &["index"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("cannot be reached"));

    // The web server starts while Milvus is down: status answers, searches get a 503 that says why.
    let web = serve_model(d.path(), &tiny(), &[]);
    let (status, body) = get(&format!("{}/api/status", web.url));
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&format!("{}/api/search?q=a%20photo", web.url));
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("cannot be reached"), "{body}");

    // Milvus back: the same server answers without a restart, and the next run completes.
    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&format!("{}/api/search?q=a%20photo&k=5&min=-1", web.url));
        if status == 200 {
            assert!(!body["hits"].as_array().unwrap().is_empty(), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the server recovered: {status} {body}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let resumed = index(d.path(), &[]);
    assert_eq!((n(&resumed, "embedded"), n(&resumed, "uploaded")), (0, 20), "{resumed}");
    assert_consistent(d.path());
    assert_same_as_faiss(d.path(), &[]);

    // Restarted while the web server runs: 503 while it is down, then answers again.
    server.stop();
    let (status, _) = get(&format!("{}/api/search?q=red", web.url));
    assert_eq!(status, 503);
    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&format!("{}/api/search?q=red", web.url)).0 != 200 {
        assert!(Instant::now() < deadline, "the server recovered after a restart");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_local_index_moves_to_milvus_without_re_embedding() {
    let mut guard = milvus();
    let server = guard.as_mut().unwrap();
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 40);
    let local = index(d.path(), &[]);
    assert_eq!(n(&local, "embedded"), 40);
    let before: Vec<i64> = search(d.path(), "a photo", None, &[]).iter().map(|h| h.0).collect();
    let moved = index(d.path(), &["--store", &server.store("migrated")]);
    assert_eq!((n(&moved, "embedded"), n(&moved, "uploaded")), (0, 40), "{moved}");
    assert!(moved["vector_index"]["factory"].as_str().unwrap().starts_with("Milvus"), "{moved}");
    let after: Vec<i64> = search(d.path(), "a photo", None, &[]).iter().map(|h| h.0).collect();
    assert_eq!(after, before, "the same answers from Milvus");
    assert_consistent(d.path());
    assert_same_as_faiss(d.path(), &[]);
}

#[test]
fn hnsw_and_ivf_collections_find_what_exact_search_finds_through_changes() {
    let mut guard = milvus();
    let server = guard.as_mut().unwrap();
    // IVF visiting every list is exact; HNSW with a candidate list as long as the library nearly so.
    let modes = [("mode_hnsw", "index=hnsw&m=16&ef_construction=200&ef=400", "Milvus HNSW", 19), ("mode_ivf", "index=ivf_flat&nlist=8&nprobe=8", "Milvus IVF_FLAT", 20)];
    for (collection, options, factory, at_least) in modes {
        let d = tempfile::tempdir().unwrap();
        images_from(d.path(), 0, 400);
        let store = format!("{}?{options}", server.store(collection));
        let first = index(d.path(), &["--store", &store]);
        assert!(first["vector_index"]["factory"].as_str().unwrap().starts_with(factory), "{first}");
        let agree = |context: &str| {
            assert_consistent(d.path());
            for query in ["a photo", "red", "a dark picture with stripes"] {
                let remote = search(d.path(), query, None, &[]);
                let exact = search(d.path(), query, Some("local"), &[]);
                assert_eq!(exact.len(), 20, "{context}");
                let found = remote.iter().filter(|h| exact.iter().any(|e| e.0 == h.0)).count();
                assert!(found >= at_least, "{context} {collection} {query}: {found} of the exact top 20 ({remote:?} vs {exact:?})");
                // Milvus' scores are the exact inner products of the stored vectors.
                for (id, score) in &remote {
                    if let Some(e) = exact.iter().find(|e| e.0 == *id) {
                        assert!((score - e.1).abs() <= 1e-5, "{context} {collection} {query}: {id} {score} vs {}", e.1);
                    }
                }
            }
        };
        agree("first run");
        // The index type is kept through deletes and adds, and deleted rows are never found.
        for i in 0..30 {
            std::fs::remove_file(d.path().join(format!("img-{i:05}.jpg"))).unwrap();
        }
        images_from(d.path(), 1000, 20);
        let changed = index(d.path(), &[]);
        assert_eq!((n(&changed, "uploaded"), n(&changed, "remote_deleted")), (20, 30), "{changed}");
        assert!(changed["vector_index"]["factory"].as_str().unwrap().starts_with(factory), "{changed}");
        agree("after changes");
    }
}
