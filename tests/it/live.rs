//! A running server follows its index: another process indexes new and deleted photos, and the
//! server swaps in the new index while a client keeps searching, every answer a 200.

use std::{
    io::Write,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    growing::images,
    indexing::{root, tiny},
};

pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn for_library(c: Command, data: &Path) -> Command {
    for_library_with(c, data, &tiny())
}

fn for_library_with(mut c: Command, data: &Path, model: &Path) -> Command {
    c.env("CLIPFIND_DATA", data).env("CLIPFIND_MODEL", model).env("CLIPFIND_DEVICE", "cpu").env_remove("CLIPFIND_INDEX");
    c
}

fn index(data: &Path) {
    let out = for_library(Command::new(env!("CARGO_BIN_EXE_clipfind")), data).args(["index", "--quiet"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn serve(data: &Path, extra: &[&str]) -> Server {
    serve_model(data, &tiny(), extra)
}

/// Serves the library in `data` (already indexed) with `model` on a free loopback port.
pub(crate) fn serve_model(data: &Path, model: &Path, extra: &[&str]) -> Server {
    serve_model_env(data, model, extra, &[])
}

/// As [`serve_model`], with more environment variables for the server.
fn serve_model_env(data: &Path, model: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let child = for_library_with(Command::new(env!("CARGO_BIN_EXE_clipfind")), data, model)
        .arg("serve")
        .args(extra)
        .env("LEPTOS_SITE_ADDR", &addr)
        .env("LEPTOS_OUTPUT_NAME", "clipfind")
        .env("LEPTOS_SITE_ROOT", root().join("target/site"))
        .env("RUST_LOG", std::env::var("CLIPFIND_TEST_SERVER_LOG").unwrap_or_else(|_| "error".into()))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, url: format!("http://{addr}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&format!("{}/api/status", server.url)).call().is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// GET `url`: the status and the JSON body (null when it is not JSON).
pub(crate) fn get(url: &str) -> (u16, Value) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), json(r)),
        Err(ureq::Error::Status(code, r)) => (code, json(r)),
        Err(e) => panic!("{url}: {e}"),
    }
}

fn json(r: ureq::Response) -> Value {
    serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null)
}

/// The summary of a `clipfind index --json` run on the library in `data`.
fn index_summary(data: &Path) -> Value {
    let out = for_library(Command::new(env!("CARGO_BIN_EXE_clipfind")), data).args(["index", "--json"]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
}

fn images_in_status(server: &Server) -> u64 {
    get(&format!("{}/api/status", server.url)).1["images"].as_u64().unwrap_or(0)
}

/// Seconds until `/api/status` counts `want` images.
fn seconds_until(server: &Server, want: u64) -> f64 {
    seconds_until_within(server, want, Duration::from_secs(30))
}

fn seconds_until_within(server: &Server, want: u64, most: Duration) -> f64 {
    let started = Instant::now();
    while images_in_status(server) != want {
        assert!(started.elapsed() < most, "still {} images, not {want}", images_in_status(server));
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed().as_secs_f64()
}

fn paths_found(server: &Server) -> Vec<(i64, String)> {
    let (status, reply) = get(&format!("{}/api/search?q=a+striped+pattern&k=200&min=-1", server.url));
    assert_eq!(status, 200, "{reply}");
    reply["hits"].as_array().unwrap().iter().map(|h| (h["id"].as_i64().unwrap(), h["path"].as_str().unwrap().to_string())).collect()
}

/// A client searching in a loop until stopped; returns every status it got.
fn searching_client(server: &Server) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<u16>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, url) = (stop.clone(), server.url.clone());
    let client = std::thread::spawn(move || {
        let mut answers = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            answers.push(get(&format!("{url}/api/search?q=a+striped+pattern&k=20&min=-1")).0);
        }
        answers
    });
    (stop, client)
}

fn assert_all_answered(stop: Arc<AtomicBool>, client: std::thread::JoinHandle<Vec<u16>>) {
    stop.store(true, Ordering::Relaxed);
    let answers = client.join().unwrap();
    assert!(answers.len() > 10, "{} searches", answers.len());
    assert!(answers.iter().all(|s| *s == 200), "{:?}", answers.iter().filter(|s| **s != 200).collect::<Vec<_>>());
}

#[test]
fn watch_mode_indexes_photos_copied_in_while_searches_keep_answering() {
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 0..10);
    index(d.path());
    let server = serve(d.path(), &["--watch"]);
    let (stop, client) = searching_client(&server);

    images(d.path(), 10..60);
    let seconds = seconds_until(&server, 60);
    eprintln!("50 photos copied in: searchable after {seconds:.2} s");

    // A copy written in two halves 2.5 s apart is indexed once, complete, never as broken.
    let elsewhere = tempfile::tempdir().unwrap();
    images(elsewhere.path(), 100..101);
    let slow = std::fs::read(elsewhere.path().join("g-100.png")).unwrap();
    let (first, rest) = slow.split_at(slow.len() / 2);
    let mut file = std::fs::File::create(d.path().join("slow.png")).unwrap();
    file.write_all(first).unwrap();
    file.flush().unwrap();
    // While half of it is there, it is neither indexed nor reported as a file it could not read.
    let half_until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < half_until {
        let now = get(&format!("{}/api/status?skipped=1", server.url)).1;
        assert_eq!(now["images"].as_u64(), Some(60), "the half-written file was indexed: {now}");
        let skipped = now["indexing"]["skipped_files"].as_array().cloned().unwrap_or_default();
        assert!(skipped.iter().all(|f| f["path"] != "slow.png"), "the half-written file was skipped as broken: {now}");
        std::thread::sleep(Duration::from_millis(100));
    }
    file.write_all(rest).unwrap();
    drop(file);
    seconds_until(&server, 61);
    let catalog = clipfind_engine::catalog::Catalog::open_read_only(&d.path().join(".clipfind")).unwrap();
    let row = catalog.image_at("slow.png").unwrap().expect("slow.png indexed");
    assert_eq!(row.size, slow.len() as u64, "indexed as it was half-written");

    for i in 0..5 {
        std::fs::remove_file(d.path().join(format!("g-{i:03}.png"))).unwrap();
    }
    seconds_until(&server, 56);
    assert_all_answered(stop, client);
    drop(server);
    let summary = index_summary(d.path());
    assert_eq!((summary["embedded"].as_u64(), summary["total"].as_u64()), (Some(0), Some(56)), "{summary:#}");
    assert_eq!(summary["skipped"], serde_json::json!([]), "nothing was read half-written");
}

#[test]
fn watch_mode_follows_renames_moves_and_deletions_keeping_each_photo_s_id() {
    let d = tempfile::tempdir().unwrap();
    for (folder, range) in [("", 0..6), ("trip", 6..12), ("old", 12..16)] {
        std::fs::create_dir_all(d.path().join(folder)).unwrap();
        images(&d.path().join(folder), range);
    }
    index(d.path());
    let server = serve(d.path(), &["--watch"]);
    let before: std::collections::HashMap<String, i64> = paths_found(&server).into_iter().map(|(id, path)| (path, id)).collect();
    assert_eq!(before.len(), 16, "{before:?}");
    let (stop, client) = searching_client(&server);

    let outside = tempfile::tempdir().unwrap();
    let at = |p: &str| d.path().join(p);
    std::fs::rename(at("g-000.png"), at("renamed.png")).unwrap();
    std::fs::create_dir(at("new")).unwrap();
    std::fs::rename(at("g-001.png"), at("new/g-001.png")).unwrap();
    std::fs::rename(at("trip"), at("holiday")).unwrap();
    std::fs::rename(at("g-002.png"), outside.path().join("g-002.png")).unwrap();
    std::fs::remove_file(at("g-003.png")).unwrap();
    std::fs::remove_dir_all(at("old")).unwrap();

    // Where each photo is now, and the id it had before.
    let mut want: Vec<(String, i64)> = vec![
        ("renamed.png".into(), before["g-000.png"]),
        ("new/g-001.png".into(), before["g-001.png"]),
        ("g-004.png".into(), before["g-004.png"]),
        ("g-005.png".into(), before["g-005.png"]),
    ];
    want.extend((6..12).map(|i| (format!("holiday/g-{i:03}.png"), before[&format!("trip/g-{i:03}.png")])));
    want.sort();
    let started = Instant::now();
    let found = loop {
        let mut now: Vec<(String, i64)> = paths_found(&server).into_iter().map(|(id, path)| (path, id)).collect();
        now.sort();
        if now == want || started.elapsed() > Duration::from_secs(30) {
            break now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(found, want, "after {:.1} s", started.elapsed().as_secs_f64());
    seconds_until(&server, 10);
    assert_all_answered(stop, client);
    drop(server);
    // Nothing was embedded again: a run now finds every photo as it is.
    let summary = index_summary(d.path());
    assert_eq!((summary["embedded"].as_u64(), summary["unchanged"].as_u64()), (Some(0), Some(10)), "{summary:#}");
}

#[test]
fn a_running_server_follows_what_another_process_indexes_and_no_request_fails() {
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 0..10);
    index(d.path());
    let server = serve(d.path(), &[]);
    assert_eq!(images_in_status(&server), 10);

    // A client searching in a loop for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let client = {
        let (stop, answers, url) = (stop.clone(), answers.clone(), server.url.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = get(&format!("{url}/api/search?q=a+striped+pattern&k=20&min=-1"));
                answers.lock().unwrap().push(status);
            }
        })
    };

    images(d.path(), 10..60);
    index(d.path());
    let seconds = seconds_until(&server, 60);
    eprintln!("50 new images searchable {seconds:.2} s after `clipfind index` ended");
    assert!(seconds < 5.0, "{seconds} s");
    let found = paths_found(&server);
    assert_eq!(found.len(), 60);
    assert!(found.iter().any(|(_, p)| p == "g-059.png"));

    let gone: Vec<i64> = found.iter().filter(|(_, p)| p.as_str() < "g-020.png").map(|(id, _)| *id).collect();
    for i in 0..20 {
        std::fs::remove_file(d.path().join(format!("g-{i:03}.png"))).unwrap();
    }
    index(d.path());
    seconds_until(&server, 40);
    let found = paths_found(&server);
    assert!(found.iter().all(|(id, _)| !gone.contains(id)), "deleted images are not found");
    let (status, reply) = get(&format!("{}/image/{}", server.url, gone[0]));
    assert_eq!(status, 404, "{reply}");
    let (status, _) = get(&format!("{}/api/similar?id={}", server.url, gone[0]));
    assert_eq!(status, 404);

    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let answers = answers.lock().unwrap();
    assert!(answers.len() > 10, "{} searches", answers.len());
    assert!(answers.iter().all(|s| *s == 200), "{:?}", answers.iter().filter(|s| **s != 200).collect::<Vec<_>>());
}

/// `count` distinct 1200x900 JPEGs that take a real decode each: one photo-sized JPEG with a
/// different trailing comment byte string after its end marker (decoders stop at the marker),
/// dated a minute ago: older than the watcher's settle time, so no run leaves one for the next.
fn camera_photos(dir: &Path, count: u32) {
    let a_minute_ago = std::time::SystemTime::now() - Duration::from_secs(60);
    let img = image::RgbImage::from_fn(1200, 900, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8]));
    let mut base = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut base), image::ImageFormat::Jpeg).unwrap();
    for i in 0..count {
        let mut bytes = base.clone();
        bytes.extend_from_slice(format!("copy {i}").as_bytes());
        let path = dir.join(format!("cam-{i:04}.jpg"));
        std::fs::write(&path, bytes).unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(a_minute_ago).unwrap();
    }
}

fn status(server: &Server) -> Value {
    get(&format!("{}/api/status", server.url)).1
}

#[test]
fn a_watch_mode_server_killed_mid_indexing_resumes_after_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let (photos, phone) = (d.path().join("photos"), d.path().join("phone"));
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::create_dir_all(&phone).unwrap();
    images(&photos, 0..10);
    let mut folders = photos.clone().into_os_string();
    folders.push(":");
    folders.push(&phone);
    let serve_both = |extra: &[&str]| serve(Path::new(&folders), extra);
    let server = serve_both(&["--watch"]);
    seconds_until(&server, 10);

    // Written aside, then moved in as one folder: the watcher sees all 400 at once (written in
    // place, a slow machine let it start a run on the first 200 or so).
    let staging = d.path().join("staging");
    std::fs::create_dir_all(staging.join("cam")).unwrap();
    camera_photos(&staging.join("cam"), 400);
    std::fs::rename(staging.join("cam"), phone.join("cam")).unwrap();
    // Mid-indexing: the progress in /api/status says so.
    let started = Instant::now();
    let progress = loop {
        let indexing = status(&server)["indexing"].clone();
        if indexing["phase"] == "embedding" && indexing["done"].as_u64().unwrap_or(0) >= 20 {
            break indexing;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no indexing progress seen: {}", status(&server));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(progress["total"], 400, "{progress}");
    assert!(progress["per_second"].as_f64().unwrap() > 0.0, "{progress}");
    let mut server = server;
    // SIGKILL: no clean-up of any kind; the indexer child dies with it.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let server = serve_both(&["--watch"]);
    seconds_until_within(&server, 410, Duration::from_secs(120));
    assert!(status(&server)["indexing"].is_null() || status(&server)["indexing"]["phase"] != "embedding");
    let (code, reply) = get(&format!("{}/api/search?q=a+photo&k=200&min=-1", server.url));
    assert_eq!(code, 200, "{reply}");
    let hit = reply["hits"].as_array().unwrap().iter().find(|h| h["folder"] == "phone").cloned().expect("a hit in the second folder");
    assert!(hit["path"].as_str().unwrap().starts_with("cam/cam-"), "{hit}");
    let image = ureq::get(&format!("{}{}", server.url, hit["image"].as_str().unwrap())).call().unwrap();
    assert_eq!(image.status(), 200);
    drop(server);

    // Consistent: a run by hand finds nothing to do and nothing broken.
    let out = for_library(Command::new(env!("CARGO_BIN_EXE_clipfind")), Path::new(&folders)).args(["index", "--json"]).output().unwrap();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!((summary["embedded"].as_u64(), summary["total"].as_u64()), (Some(0), Some(410)), "{summary:#}");
    assert_eq!(summary["skipped"], serde_json::json!([]));
}

/// Live typing from one page: with the text encoder held busy, the page's prefixes queue behind
/// it, then its whole query; every prefix overtaken before the encoder reached it answers 409
/// with a message (never a 5xx) and the whole query is answered. A malformed page id is a 400.
#[test]
fn superseded_prefixes_from_one_page_are_dropped_harmlessly() {
    let d = tempfile::tempdir().unwrap();
    images(d.path(), 0..5);
    index(d.path());
    let held = tempfile::tempdir().unwrap();
    let pause = held.path().join("encoder-held");
    let pause_at = format!("text-encode@{}", pause.display());
    let server = serve_model_env(d.path(), &tiny(), &[], &[("CLIPFIND_PAUSE_AT", &pause_at)]);
    let query = "a red bicycle leaning on a blue wall at night in the rain";
    let search = |q: &str, page: &str| get(&format!("{}/api/search?q={}&min=-1{page}", server.url, q.replace(' ', "%20")));
    let done = AtomicBool::new(false);
    let (blocker, prefixes, whole) = std::thread::scope(|s| {
        // The encoder takes another client's query and is held there (it says so by the file).
        let blocker = s.spawn(|| search("a blocker", ""));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pause.exists() {
            assert!(Instant::now() < deadline, "the encoder was never held");
            std::thread::sleep(Duration::from_millis(10));
        }
        let prefixes: Vec<_> = (1..query.len()).map(|n| s.spawn(move || search(&query[..n], "&page=typing-test"))).collect();
        // The whole query comes last, after every prefix has arrived.
        std::thread::sleep(Duration::from_secs(1));
        let whole = s.spawn(|| search(query, "&page=typing-test"));
        std::thread::sleep(Duration::from_millis(500));
        // Let the encoder go on, each time it stops at the step again.
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(&pause);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let answers = (blocker.join().unwrap(), prefixes.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>(), whole.join().unwrap());
        done.store(true, Ordering::Relaxed);
        answers
    });
    assert_eq!(blocker.0, 200, "{}", blocker.1);
    assert_eq!(whole.0, 200, "{}", whole.1);
    assert_eq!(whole.1["query"], query, "the answer is not the whole query's");
    for (code, body) in &prefixes {
        assert_eq!(*code, 409, "a prefix overtaken while it waited was answered: {body}");
        assert!(body["error"].as_str().unwrap().contains("A newer search from this page replaced this one"), "{body}");
    }
    eprintln!("{} prefixes queued behind a held encoder: all dropped, the whole query answered", prefixes.len());
    let (code, body) = get(&format!("{}/api/search?q=dog&page=no%20spaces", server.url));
    assert_eq!(code, 400, "{body}");
}
