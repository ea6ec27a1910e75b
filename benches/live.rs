//! Search latency while a batch of photos is indexed in the background, against idle: the real
//! `clipfind serve --watch` on loopback with the bundled demo model, a library of 50 photos, one
//! client sending a new text query at a time. Then 1,000 camera-sized JPEGs (1200x900, each a
//! full decode) are moved into the folder; watch mode indexes them at nice 10 while the client
//! keeps searching. Prints p50/p99 for both phases and their ratio.
//!
//!   cargo bench --no-default-features --features ssr --bench live

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const ADDR: &str = "127.0.0.1:3918";
const BATCH: u32 = 1000;

/// `count` distinct JPEGs that each cost a full 1200x900 decode: one encoded photo with a
/// different byte string after its end marker (decoders stop there; the content hash differs).
fn camera_photos(dir: &Path, first: u32, count: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let img = image::RgbImage::from_fn(1200, 900, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8]));
    let mut base = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut base), image::ImageFormat::Jpeg).unwrap();
    for i in first..first + count {
        let mut bytes = base.clone();
        bytes.extend_from_slice(format!("copy {i}").as_bytes());
        std::fs::write(dir.join(format!("cam-{i:04}.jpg")), bytes).unwrap();
    }
}

fn status() -> serde_json::Value {
    let body = ureq::get(&format!("http://{ADDR}/api/status")).call().map(|r| r.into_string().unwrap_or_default()).unwrap_or_default();
    serde_json::from_str(&body).unwrap_or_default()
}

/// One search with a query never asked before; its latency.
fn search(n: usize) -> Duration {
    let t = Instant::now();
    let url = format!("http://{ADDR}/api/search?q=a%20red%20circle%20number%20{n}&k=30&min=-1");
    let reply = ureq::get(&url).call().expect("searches answer 200 throughout");
    let _ = reply.into_string();
    t.elapsed()
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/clipfind-demo");
    let data = tempfile::tempdir().unwrap();
    let incoming = tempfile::tempdir_in(data.path().parent().unwrap()).unwrap();
    camera_photos(&data.path().join("start"), 0, 50);
    camera_photos(&incoming.path().join("batch"), 50, BATCH);
    let env = |c: &mut Command| {
        c.env("CLIPFIND_DATA", data.path()).env("CLIPFIND_MODEL", &model).env("CLIPFIND_DEVICE", "cpu").env_remove("CLIPFIND_INDEX");
    };
    let mut index = Command::new(env!("CARGO_BIN_EXE_clipfind"));
    env(&mut index);
    assert!(index.args(["index", "--quiet"]).status().unwrap().success());
    let mut serve = Command::new(env!("CARGO_BIN_EXE_clipfind"));
    env(&mut serve);
    let mut server = serve
        .args(["serve", "--watch"])
        .env("LEPTOS_SITE_ADDR", ADDR)
        .env("LEPTOS_SITE_ROOT", root.join("target/site"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while status()["images"] != 50 {
        assert!(Instant::now() < deadline, "the server did not start: {}", status());
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    for _ in 0..20 {
        search(next());
    }
    let idle: Vec<Duration> = (0..300).map(|_| search(next())).collect();

    // A move is one event per file for inotify, like a copy from a camera card, but instant.
    std::fs::rename(incoming.path().join("batch"), data.path().join("batch")).unwrap();
    let moved = Instant::now();
    let mut during = Vec::new();
    let (mut seen_indexing, mut done_at) = (None, None);
    while moved.elapsed() < Duration::from_secs(600) {
        let took = search(next());
        let s = status();
        if !s["indexing"].is_null() {
            seen_indexing.get_or_insert(moved.elapsed());
            during.push(took);
        }
        if s["images"] == 50 + BATCH as u64 {
            done_at = Some(moved.elapsed());
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let (idle_p50, idle_p99) = percentiles(idle);
    println!("idle: 300 searches, p50 {idle_p50:.1} ms, p99 {idle_p99:.1} ms");
    let Some(done_at) = done_at else {
        println!("the batch was not indexed within 10 minutes");
        return;
    };
    println!(
        "{BATCH} photos moved in: indexing seen after {:.1} s, all searchable after {:.1} s",
        seen_indexing.unwrap_or_default().as_secs_f64(),
        done_at.as_secs_f64()
    );
    if during.is_empty() {
        println!("no search ran while the indexer was reporting progress");
        return;
    }
    let count = during.len();
    let (p50, p99) = percentiles(during);
    println!(
        "while indexing: {count} searches, p50 {p50:.1} ms, p99 {p99:.1} ms (x{:.2} / x{:.2} idle)",
        p50 / idle_p50,
        p99 / idle_p99
    );
}
