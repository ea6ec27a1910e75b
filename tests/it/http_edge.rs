//! The HTTP edge of a real server process: malformed requests get a 4xx with the JSON error
//! body, never a 5xx, a panic or a dropped connection; a bounded fuzz run checks the same over
//! thousands of generated requests.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Indexes three test images with the tiny model and serves them on a free loopback port.
fn start() -> Server {
    start_with(&[])
}

/// As [`start`], with more `clipfind index` options.
fn start_with(index_options: &[&str]) -> Server {
    start_limited(index_options, &[], None)
}

/// As [`start_with`], with more environment variables for the server; with `open_files`, the
/// server runs under `ulimit -n open_files`.
pub(crate) fn start_limited(index_options: &[&str], server_env: &[(&str, &str)], open_files: Option<u32>) -> Server {
    start_serving(index_options, server_env, open_files, Stdio::inherit())
}

/// As [`start_limited`], with the server's log (stderr) sent to `log`; a server with a password
/// is ready when it answers at all.
pub(crate) fn start_serving(index_options: &[&str], server_env: &[(&str, &str)], open_files: Option<u32>, log: Stdio) -> Server {
    let data = tempfile::tempdir().unwrap();
    for name in ["photo.jpg", "wide.png", "cmyk.jpg"] {
        std::fs::copy(root().join("tests/fixtures/images").join(name), data.path().join(name)).unwrap();
    }
    let clipfind = env!("CARGO_BIN_EXE_clipfind");
    let for_library = |mut c: Command| {
        c.env("CLIPFIND_DATA", data.path())
            .env("CLIPFIND_MODEL", root().join("models/test-tiny"))
            .env("CLIPFIND_DEVICE", "cpu")
            .env_remove("CLIPFIND_INDEX");
        c
    };
    let indexed = for_library(Command::new(clipfind)).args(["index", "--quiet"]).args(index_options).output().unwrap();
    assert!(indexed.status.success(), "{}", String::from_utf8_lossy(&indexed.stderr));
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut serve = match open_files {
        None => Command::new(clipfind),
        Some(limit) => {
            let mut sh = Command::new("sh");
            sh.arg("-c").arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\"")).arg(clipfind);
            sh
        }
    };
    serve.arg("serve");
    let child = for_library(serve)
        .env("LEPTOS_SITE_ADDR", &addr)
        .env("LEPTOS_OUTPUT_NAME", "clipfind")
        .env("LEPTOS_SITE_ROOT", root().join("target/site"))
        .env("RUST_LOG", "error")
        .envs(server_env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server { child, addr, data };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !send(&server, "GET /api/status HTTP/1.1\r\n\r\n").is_some_and(|(status, _)| status == 200 || status == 401) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// Sends one raw request (a `Host` and `Connection: close` are added after the first line) and
/// reads the whole answer; `None` when the connection failed or closed without one.
pub(crate) fn send(server: &Server, raw: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(&server.addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let (first, rest) = raw.split_once("\r\n").unwrap_or((raw, ""));
    let request = format!("{first}\r\nHost: {}\r\nConnection: close\r\n{rest}", server.addr);
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some((status, answer))
}

pub(crate) fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn post(path: &str, content_type: Option<&str>, payload: &str) -> String {
    let content_type = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
    format!("POST {path} HTTP/1.1\r\n{content_type}Content-Length: {}\r\n\r\n{payload}", payload.len())
}

#[test]
fn malformed_requests_get_a_4xx_with_the_json_error() {
    let server = start();
    let get = |target: &str| format!("GET {target} HTTP/1.1\r\n\r\n");
    let cases: Vec<(String, u16)> = vec![
        (get("/api/search?q=dog&q=cat"), 400),
        (get("/api/search?q[]=dog"), 400),
        (get("/api/search?q=dog&k[]=3"), 400),
        (get("/api/search?q=dog&min[x]=1"), 400),
        (get("/api/similar?id=1&id=2"), 400),
        (post("/api/search_image", Some("text/plain"), "hello"), 415),
        (post("/api/search_image", None, ""), 415),
        (post("/api/search_image", Some("application/json"), "{\"image\":1}"), 415),
        (post("/api/search_image", Some("application/x-www-form-urlencoded"), "image=1"), 415),
        (post("/api/search_image", Some("multipart/form-data"), "--x\r\n"), 400),
        (post("/api/search_image", Some("multipart/form-data; boundary=x"), ""), 400),
    ];
    for (request, want) in cases {
        let first = request.lines().next().unwrap().to_string();
        let (status, answer) = send(&server, &request).unwrap_or_else(|| panic!("{first}: no answer"));
        assert_eq!(status, want, "{first}: {answer}");
        let json: serde_json::Value = serde_json::from_str(body(&answer)).unwrap_or_else(|e| panic!("{first}: {e}: {answer}"));
        assert_eq!(json["status"], want, "{first}: {json}");
        assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{first}: {json}");
    }

    // HEAD answers as GET does, without a body.
    let (status, answer) = send(&server, "HEAD /api/search?q=dog HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(body(&answer).is_empty(), "{answer}");
    // An odd request target is answered, not dropped.
    let (status, _) = send(&server, "OPTIONS * HTTP/1.1\r\n\r\n").expect("an answer to OPTIONS *");
    assert!(status < 500, "{status}");
    let (status, answer) = send(&server, "GET /api/search?q=dog&min=-1 HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(status, 200, "the server still searches: {answer}");
}

/// A deterministic xorshift generator: the same requests on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn fuzz_request(rng: &mut Rng) -> String {
    let methods = ["GET", "GET", "GET", "HEAD", "POST", "POST", "PUT", "DELETE", "OPTIONS"];
    let paths = ["/api/search", "/api/similar", "/api/status", "/api/search_image", "/image/1", "/thumb/2", "/image/x", "/", "/api/nope", "/pkg/none.js"];
    let keys = ["q", "q", "k", "min", "id", "q[]", "k[0]", "min[x]", "", "%", "q%00"];
    let values = ["dog", "", "0", "-1", "201", "1e9", "NaN", "%E2%82", "%ZZ", "a%20cat", "..%2F..%2Fetc", "&", "="];
    let types = ["", "text/plain", "application/json", "multipart/form-data", "multipart/form-data; boundary=b", "application/x-www-form-urlencoded"];
    let bodies = ["", "x", "{}", "--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nnot an image\r\n--b--\r\n", "q=dog&k=3"];
    let method = rng.pick(&methods);
    let mut target = rng.pick(&paths).to_string();
    for i in 0..rng.next() % 4 {
        target.push(if i == 0 { '?' } else { '&' });
        target.push_str(&format!("{}={}", rng.pick(&keys), rng.pick(&values)));
    }
    if rng.next() % 20 == 0 {
        target.push_str(&"x".repeat(3000));
    }
    let content_type = rng.pick(&types);
    let payload = rng.pick(&bodies);
    let content_type = if content_type.is_empty() { String::new() } else { format!("Content-Type: {content_type}\r\n") };
    format!("{method} {target} HTTP/1.1\r\n{content_type}Content-Length: {}\r\n\r\n{payload}", payload.len())
}

#[test]
fn a_fuzz_run_of_generated_requests_gets_no_5xx_and_no_dropped_connection() {
    let server = start();
    let mut rng = Rng(0x5eed_cafe);
    let (mut answered, mut failures) = (0, Vec::new());
    for _ in 0..3000 {
        let request = fuzz_request(&mut rng);
        let first = request.lines().next().unwrap().chars().take(120).collect::<String>();
        match send(&server, &request) {
            Some((status, _)) if status < 500 => answered += 1,
            Some((status, answer)) => failures.push(format!("{status} for {first}: {}", body(&answer))),
            None => failures.push(format!("no answer to {first}")),
        }
    }
    assert!(failures.is_empty(), "{} of 3000 failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(answered, 3000);
}

/// `(id, path)` of every indexed image, from the JSON API.
fn indexed_images(server: &Server) -> Vec<(i64, String)> {
    let text = ureq::get(&format!("http://{}/api/search?q=photo&min=-1", server.addr)).call().unwrap().into_string().unwrap();
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
    reply["hits"].as_array().unwrap().iter().map(|h| (h["id"].as_i64().unwrap(), h["path"].as_str().unwrap().to_string())).collect()
}

#[test]
fn a_file_overwritten_in_place_never_answers_304_to_its_old_etag() {
    let server = start();
    let (id, path) = indexed_images(&server).into_iter().find(|(_, p)| p == "photo.jpg").unwrap();
    let url = format!("http://{}/image/{id}", server.addr);
    let first = ureq::get(&url).call().unwrap();
    let etag = first.header("etag").unwrap().to_string();
    assert_eq!(ureq::get(&url).set("If-None-Match", &etag).call().unwrap().status(), 304);

    // The same bytes written again: still the indexed content, served under a new ETag.
    let file = server.data.path().join(&path);
    let photo = std::fs::read(&file).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&file, &photo).unwrap();
    let again = ureq::get(&url).set("If-None-Match", &etag).call().unwrap();
    assert_eq!(again.status(), 200, "a rewritten file under an old ETag");
    let etag = again.header("etag").unwrap().to_string();

    // Other bytes: not what the index holds, so not served (not 304, not the new bytes) until
    // the next run embeds them.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::copy(root().join("tests/fixtures/images/cmyk.jpg"), &file).unwrap();
    match ureq::get(&url).set("If-None-Match", &etag).call() {
        Err(ureq::Error::Status(404, answer)) => {
            assert!(answer.into_string().unwrap().contains("changed since it was indexed"));
        }
        other => panic!("expected 404, got {:?}", other.map(|a| a.status())),
    }
    let indexed = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--quiet", "--data"])
        .arg(server.data.path())
        .env("CLIPFIND_MODEL", root().join("models/test-tiny"))
        .env("CLIPFIND_DEVICE", "cpu")
        .env_remove("CLIPFIND_INDEX")
        .output()
        .unwrap();
    assert!(indexed.status.success(), "{}", String::from_utf8_lossy(&indexed.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    let reindexed = loop {
        let (id, _) = indexed_images(&server).into_iter().find(|(_, p)| p == "photo.jpg").unwrap();
        match ureq::get(&format!("http://{}/image/{id}", server.addr)).set("If-None-Match", &etag).call() {
            Ok(answer) => break answer,
            Err(e) => assert!(Instant::now() < deadline, "not served after re-indexing: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(reindexed.status(), 200, "new bytes under an old ETag");
    assert_ne!(reindexed.header("etag").unwrap(), etag);
    let mut bytes = Vec::new();
    reindexed.into_reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, std::fs::read(&file).unwrap());
}

#[test]
fn a_missing_thumbnail_is_made_on_demand_not_replaced_by_the_original() {
    let server = start_with(&["--no-thumbnails"]);
    for (id, path) in indexed_images(&server) {
        let answer = ureq::get(&format!("http://{}/thumb/{id}", server.addr)).call().unwrap();
        assert_eq!(answer.header("content-type"), Some("image/jpeg"), "{path}");
        assert_eq!(answer.header("x-clipfind-thumbnail"), None, "{path}");
        let mut bytes = Vec::new();
        answer.into_reader().read_to_end(&mut bytes).unwrap();
        let thumb = image::load_from_memory(&bytes).unwrap();
        assert!(thumb.width().max(thumb.height()) <= 320, "{path}: {}x{}", thumb.width(), thumb.height());
    }
}

/// Kilobytes of a `/proc/PID/status` field (`VmRSS`, `VmHWM`).
pub(crate) fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn upload(server: &Server, name: &str, bytes: &[u8]) -> u16 {
    let mut body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let answer = ureq::post(&format!("http://{}/api/search_image", server.addr))
        .set("Content-Type", "multipart/form-data; boundary=XyZ")
        .timeout(Duration::from_secs(120))
        .send_bytes(&body);
    match answer {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{name}: no answer: {e}"),
    }
}

pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x / 32) as u8, (y / 32) as u8, 128]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

/// The server's decode budget in the test below, and how much it may grow above its resident
/// size before the uploads: the budget counts what decoded images may take at most (each
/// 50 MP image reserves 400 MB), so it also bounds what they and their buffers really take.
const UPLOAD_BUDGET_MB: u64 = 800;

#[test]
fn concurrent_decompression_bombs_keep_the_server_small_and_answering() {
    let budget = UPLOAD_BUDGET_MB.to_string();
    let server = start_limited(&[], &[("CLIPFIND_DECODE_MEMORY_MB", &budget)], None);
    let pid = server.child.id();
    let before = memory_kb(pid, "VmRSS");
    let header_bomb = std::fs::read(root().join("tests/fixtures/broken/header-bomb.png")).unwrap();
    let aspect_bomb = std::fs::read(root().join("tests/fixtures/broken/aspect-bomb.png")).unwrap();
    let under_cap = jpeg(7000, 7000); // 49 MP: decoded, two at a time
    let over_cap = jpeg(7100, 7100); // 50.4 MP: refused from its header
    let uploads: Vec<(&str, &[u8], u16)> = vec![
        ("bomb.png", &header_bomb, 413),
        ("strip.png", &aspect_bomb, 415),
        ("49mp.jpg", &under_cap, 200),
        ("50mp.jpg", &over_cap, 413),
    ];
    std::thread::scope(|scope| {
        for (name, bytes, want) in uploads.iter().flat_map(|u| std::iter::repeat_n(u, 4)) {
            let server = &server;
            scope.spawn(move || assert_eq!(upload(server, name, bytes), *want, "{name}"));
        }
    });
    let grown_mb = memory_kb(pid, "VmHWM").saturating_sub(before) / 1024;
    eprintln!("16 concurrent uploads: server peak grew {grown_mb} MB over {} MB", before / 1024);
    assert!(grown_mb < UPLOAD_BUDGET_MB, "the server's peak grew {grown_mb} MB (budget {UPLOAD_BUDGET_MB} MB)");
    let (status, _) = send(&server, "GET /api/search?q=dog HTTP/1.1\r\n\r\n").expect("still answering");
    assert_eq!(status, 200);
}

#[test]
fn idle_connections_beyond_the_open_file_limit_do_not_stop_searches() {
    let server = start_limited(&[], &[], Some(1024));
    // 1,100 connections that never send a byte, more than the server has file descriptors.
    let idle: Vec<TcpStream> = (0..1100).filter_map(|_| TcpStream::connect(&server.addr).ok()).collect();
    assert!(idle.len() > 1024, "only {} idle connections opened", idle.len());
    // Answered at all (`send` gives up after 30 s without an answer); how long it took is printed.
    let started = Instant::now();
    for _ in 0..3 {
        let (status, answer) = send(&server, "GET /api/search?q=dog&min=-1 HTTP/1.1\r\n\r\n").expect("a search answered");
        assert_eq!(status, 200, "{answer}");
    }
    eprintln!("3 searches behind 1,100 idle connections answered in {:?}", started.elapsed());
    drop(idle);
}

/// A server that gives a request head 1 s, a body 1 s between pieces and a request 3 s in all.
fn impatient() -> Server {
    start_limited(&[], &[("CLIPFIND_HEADER_TIMEOUT", "1"), ("CLIPFIND_BODY_TIMEOUT", "1"), ("CLIPFIND_REQUEST_TIMEOUT", "3")], None)
}

/// Writes `start` on a new connection, then `piece` every `every` until the server answers or
/// closes (what it sent, if anything) or `pieces` were sent (`None`: the server waited for all).
fn dribble(server: &Server, start: &str, piece: &str, every: Duration, pieces: usize) -> Option<String> {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(every)).unwrap();
    stream.write_all(start.replace("{host}", &server.addr).as_bytes()).unwrap();
    let mut answer = Vec::new();
    for _ in 0..pieces {
        let mut buffer = [0u8; 4096];
        match stream.read(&mut buffer) {
            Ok(0) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if body(&String::from_utf8_lossy(&answer)).ends_with('}') {
                    return Some(String::from_utf8_lossy(&answer).into_owned());
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(String::from_utf8_lossy(&answer).into_owned()),
        }
        if stream.write_all(piece.as_bytes()).is_err() {
            return Some(String::from_utf8_lossy(&answer).into_owned());
        }
    }
    None
}

#[test]
fn a_dribbled_request_head_is_cut_off_and_other_clients_are_served() {
    let server = impatient();
    // A header line every 200 ms: the head would take 12 s, the server allows 1.
    let cut = dribble(&server, "GET /api/status HTTP/1.1\r\nHost: {host}\r\n", "X-Slow: 1\r\n", Duration::from_millis(200), 60);
    let cut = cut.expect("the server waited for a head dribbled over 12 s");
    assert!(cut.is_empty() || cut.starts_with("HTTP/1.1 408"), "a cut-off head gets no answer or 408: {cut}");
    // A connection that never sends a byte is closed too.
    let silent = dribble(&server, "", "", Duration::from_millis(200), 60);
    assert_eq!(silent.as_deref(), Some(""), "an idle connection is closed without an answer");
    let (status, _) = send(&server, "GET /api/status HTTP/1.1\r\n\r\n").expect("answered");
    assert_eq!(status, 200);
}

#[test]
fn a_stalled_body_and_a_request_past_its_time_answer_408_with_the_json_error() {
    let server = impatient();
    let head = |path: &str, content_type: &str| format!("POST {path} HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {content_type}\r\nContent-Length: 100000\r\n\r\n");
    let multipart = "multipart/form-data; boundary=XX";
    let part = "--XX\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{ff}\u{d8}";
    // Stalled: a tenth of the body, then nothing (a piece of nothing every 500 ms).
    for (path, content_type, start) in [
        ("/api/search_image", multipart, part),
        ("/api/login", "application/x-www-form-urlencoded", "password=abc"),
    ] {
        let answer = dribble(&server, &(head(path, content_type) + start), "", Duration::from_millis(500), 40).expect("the server waited 20 s for a stalled body");
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(body(&answer).contains("stopped arriving"), "{path}: {answer}");
    }
    // Never stalled (a byte every 300 ms, under the 1 s allowed) but 30 s long: cut at 3 s.
    let answer = dribble(&server, &(head("/api/search_image", multipart) + part), "x", Duration::from_millis(300), 100).expect("the server waited 30 s for a slow body");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(body(&answer).contains("took too long"), "{answer}");
    let (status, _) = send(&server, "GET /api/search?q=dog HTTP/1.1\r\n\r\n").expect("answered");
    assert_eq!(status, 200);
}
