//! Who may see a library, against a real server process: only requests naming the server are
//! answered (DNS rebinding), a server beyond loopback needs a password, with one every route
//! needs credentials (a session cookie, Basic, or a token that can be revoked), other sites'
//! pages cannot post, guessing is rate-limited, and one client cannot take the server's memory,
//! its catalog or its live-stream slots.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use super::http_edge::{body, jpeg, memory_kb, root, send, start_limited, start_serving, Server};

const PASSWORD: &str = "correct horse battery";

/// Every kind of route the server has, as (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/?q=dog"),
    ("GET", "/duplicates"),
    ("GET", "/api/search?q=dog"),
    ("GET", "/api/similar?id=1"),
    ("GET", "/api/status"),
    ("GET", "/api/duplicates"),
    ("GET", "/api/live"),
    ("GET", "/image/1"),
    ("GET", "/thumb/1"),
    ("GET", "/nowhere"),
    ("POST", "/api/search_image"),
    ("POST", "/api/logout"),
];

/// Sends `head` (request line and headers, no Host added) and reads the answer's status and
/// head; for a stream (`/api/live`) only what arrives in a second.
fn raw(server: &Server, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && head.contains("/api/live") {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no answer to {head}: {answer:?}"));
    (status, answer)
}

fn request(server: &Server, method: &str, path: &str, headers: &str) -> (u16, String) {
    let length = if method == "POST" { "Content-Length: 0\r\n" } else { "" };
    raw(server, &format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n{length}{headers}", server.addr))
}

fn basic(password: &str) -> String {
    use base64::Engine as _;
    format!("Authorization: Basic {}\r\n", base64::engine::general_purpose::STANDARD.encode(format!("clipfind:{password}")))
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

fn with_password() -> Server {
    start_limited(&[], &[("CLIPFIND_PASSWORD", PASSWORD)], None)
}

/// Posts a sign-in form and reads the whole answer.
fn post_form(server: &Server, form: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = format!(
        "POST /api/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        server.addr,
        form.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    (answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0), answer)
}

/// Signs in through the form and returns the session cookie (`name=value`).
fn sign_in(server: &Server) -> String {
    let (status, answer) = post_form(server, &format!("password={}&next=%2F", PASSWORD.replace(' ', "+")));
    assert_eq!(status, 200, "{answer}");
    let cookie = header(&answer, "set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

fn token(server: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .arg("token")
        .args(args)
        .env("CLIPFIND_DATA", server.data.path())
        .env_remove("CLIPFIND_INDEX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_foreign_host_gets_421_on_every_route() {
    let server = start_limited(&[], &[], None);
    for (method, path) in ROUTES.iter().chain(&[("GET", "/login"), ("POST", "/api/login"), ("GET", "/pkg/clipfind.css")]) {
        let length = if *method == "POST" { "Content-Length: 0\r\n" } else { "" };
        let (status, answer) = raw(&server, &format!("{method} {path} HTTP/1.1\r\nHost: rebind.attacker.example:3000\r\n{length}"));
        assert_eq!(status, 421, "{method} {path}: {answer}");
        assert!(!answer.contains("photo.jpg"), "{method} {path} leaked a path");
        // An absolute URI naming another site is refused too.
        let (status, _) = raw(&server, &format!("{method} http://attacker.example{path} HTTP/1.1\r\nHost: {}\r\n{length}", server.addr));
        assert_eq!(status, 421, "{method} absolute {path}");
    }
    let port = server.addr.rsplit(':').next().unwrap();
    for named in [format!("localhost:{port}"), server.addr.clone(), format!("[::1]:{port}")] {
        let (status, answer) = raw(&server, &format!("GET /api/status HTTP/1.1\r\nHost: {named}\r\n"));
        assert_eq!(status, 200, "{named}: {answer}");
    }
}

#[test]
fn listening_beyond_loopback_without_a_password_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let serve = |password: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_clipfind"));
        c.arg("serve")
            .env("CLIPFIND_DATA", data.path())
            .env("CLIPFIND_MODEL", root().join("models/test-tiny"))
            .env("LEPTOS_SITE_ADDR", format!("0.0.0.0:{port}"))
            .env("LEPTOS_OUTPUT_NAME", "clipfind")
            .env_remove("CLIPFIND_PASSWORD")
            .env_remove("CLIPFIND_PASSWORD_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(p) = password {
            c.env("CLIPFIND_PASSWORD", p);
        }
        c.spawn().unwrap()
    };
    let refused = serve(None).wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(said.contains(&format!("refusing to listen on 0.0.0.0:{port} without a password")) && said.contains("CLIPFIND_PASSWORD"), "{said}");
    let refused = serve(Some("short")).wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("too short"));
    // With a password it serves, and asks for it.
    let mut child = serve(Some(PASSWORD));
    let server = Server { child: Command::new("true").spawn().unwrap(), addr: format!("127.0.0.1:{port}"), data: tempfile::tempdir().unwrap() };
    let deadline = Instant::now() + Duration::from_secs(60);
    let answered = loop {
        if let Some((status, _)) = send(&server, "GET /api/status HTTP/1.1\r\n\r\n") {
            break status;
        }
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "the server with a password did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answered, 401);
}

#[test]
fn with_a_password_every_route_needs_credentials() {
    let server = with_password();
    // Nothing without credentials: 401, or a page's redirect to the sign-in page.
    for (method, path) in ROUTES {
        let (status, answer) = request(&server, method, path, "");
        assert_eq!(status, 401, "{method} {path}: {answer}");
        assert!(header(&answer, "www-authenticate").is_some_and(|h| h.starts_with("Basic")), "{path}");
        let (status, answer) = request(&server, method, path, "Accept: text/html\r\nSec-Fetch-Mode: navigate\r\n");
        match (*method, path.starts_with("/api/") || path.starts_with("/image/") || path.starts_with("/thumb/")) {
            ("GET", false) => {
                assert_eq!(status, 303, "{path}");
                assert!(header(&answer, "location").is_some_and(|l| l.starts_with("/login?next=%2F")), "{answer}");
            }
            _ => assert_eq!(status, 401, "{method} {path}"),
        }
        let (status, _) = request(&server, method, path, "Cookie: clipfind_session=forged\r\n");
        assert_eq!(status, 401, "{method} {path} with a forged session");
    }
    // Wrong credentials (two: the sixth would be rate-limited, see below).
    let (status, _) = request(&server, "GET", "/image/1", &basic("wrong password"));
    assert_eq!(status, 401, "a wrong password");
    let (status, _) = request(&server, "GET", "/api/search?q=dog", "Authorization: Bearer cft_00000000_forged\r\n");
    assert_eq!(status, 401, "a forged token");
    // The sign-in page itself is open, and localised.
    let (status, page) = request(&server, "GET", "/login", "Accept-Language: zh-CN\r\n");
    assert_eq!(status, 200);
    assert!(page.contains("密码") && page.contains("action=\"/api/login\""), "{page}");

    let cookie = format!("Cookie: {}\r\n", sign_in(&server));
    let made = token(&server, &["create", "--name", "backup script"]);
    let bearer = format!("Authorization: Bearer {made}\r\n");
    for credentials in [cookie.clone(), basic(PASSWORD), bearer.clone()] {
        for path in ["/", "/duplicates", "/api/search?q=dog", "/api/status", "/api/duplicates", "/image/1", "/thumb/1", "/api/live"] {
            let (status, answer) = request(&server, "GET", path, &credentials);
            assert_eq!(status, 200, "{path} with {credentials}: {answer}");
        }
    }
    // A read-only token cannot sign anyone out; listing shows it without the secret.
    let (status, _) = request(&server, "POST", "/api/logout", &bearer);
    assert_eq!(status, 403);
    let listed = token(&server, &["list"]);
    assert!(listed.contains("backup script") && !listed.contains(&made[13..]), "{listed}");
    let id = &made[4..12];
    token(&server, &["revoke", id]);
    let (status, _) = request(&server, "GET", "/api/search?q=dog", &bearer);
    assert_eq!(status, 401, "a revoked token still works");

    // The page offers to sign out; signing out ends the session.
    let (_, status_reply) = request(&server, "GET", "/api/status", &cookie);
    assert!(body(&status_reply).contains("\"signed_in\":true"), "{status_reply}");
    let (status, answer) = request(&server, "POST", "/api/logout", &format!("{cookie}Origin: http://{}\r\n", server.addr));
    assert_eq!(status, 200, "{answer}");
    assert!(header(&answer, "set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    let (status, _) = request(&server, "GET", "/api/search?q=dog", &cookie);
    assert_eq!(status, 401, "the session outlived signing out");
}

#[test]
fn answers_are_private_framed_by_no_one_and_hold_no_absolute_paths() {
    let server = with_password();
    let auth = basic(PASSWORD);
    for path in ["/", "/api/search?q=dog", "/image/1", "/thumb/1", "/api/status"] {
        let (status, answer) = request(&server, "GET", path, &auth);
        assert_eq!(status, 200, "{path}");
        let cache = header(&answer, "cache-control").unwrap_or_default();
        assert!(cache.contains("private") || cache.contains("no-store"), "{path}: Cache-Control {cache}");
        assert_eq!(header(&answer, "x-frame-options"), Some("DENY"), "{path}");
        assert!(header(&answer, "content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")), "{path}");
        assert!(!answer.contains(&server.data.path().display().to_string()), "{path} names the data folder");
    }
    let (_, page) = request(&server, "GET", "/", &auth);
    let policy = header(&page, "content-security-policy").unwrap();
    let nonce = policy.split("'nonce-").nth(1).and_then(|n| n.split('\'').next()).expect("the page's policy names a nonce");
    assert!(page.contains(&format!("nonce=\"{nonce}\"")), "the hydration script does not carry the policy's nonce");
    assert!(!policy.contains("'unsafe-inline' 'wasm") && !policy.contains("script-src 'self' 'unsafe-inline'"), "{policy}");
}

#[test]
fn other_sites_pages_cannot_post() {
    let server = start_limited(&[], &[], None);
    let upload = "Content-Type: multipart/form-data; boundary=XyZ\r\n";
    for origin in ["https://evil.example", "null", "http://127.0.0.1.evil.example"] {
        for path in ["/api/search_image", "/api/login", "/api/logout"] {
            let (status, answer) = request(&server, "POST", path, &format!("{upload}Origin: {origin}\r\n"));
            assert_eq!(status, 403, "{path} from {origin}: {answer}");
        }
    }
    let (status, _) = request(&server, "POST", "/api/search_image", &format!("{upload}Sec-Fetch-Site: cross-site\r\n"));
    assert_eq!(status, 403, "a cross-site post without an Origin");
    // The server's own page and a script (no Origin) get through to the upload's own checks.
    let (status, _) = request(&server, "POST", "/api/search_image", &format!("{upload}Origin: http://{}\r\n", server.addr));
    assert_eq!(status, 400);
    let (status, _) = request(&server, "POST", "/api/search_image", upload);
    assert_eq!(status, 400);
}

#[test]
fn wrong_passwords_are_rate_limited_per_client() {
    let server = with_password();
    for attempt in 1..=5 {
        let (status, _) = request(&server, "GET", "/api/status", &basic(&format!("guess {attempt}")));
        assert_eq!(status, 401, "attempt {attempt}");
    }
    // Even the right password is not checked now: the guesser learns nothing.
    for credentials in [basic(PASSWORD), "Authorization: Bearer cft_00000000_x\r\n".to_string()] {
        let (status, answer) = request(&server, "GET", "/api/status", &credentials);
        assert_eq!(status, 429, "{answer}");
        let wait: u64 = header(&answer, "retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    let (status, _) = post_form(&server, &format!("password={}", PASSWORD.replace(' ', "+")));
    assert_eq!(status, 429, "the sign-in form is limited too");
}

/// A multipart body of `parts` (name, filename, bytes).
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        let file = file.map(|f| format!("; filename=\"{f}\"")).unwrap_or_default();
        body.extend_from_slice(format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

fn post_upload(server: &Server, body: &[u8]) -> (u16, String) {
    let answer = ureq::post(&format!("http://{}/api/search_image", server.addr))
        .set("Content-Type", "multipart/form-data; boundary=XyZ")
        .timeout(Duration::from_secs(120))
        .send_bytes(body);
    match answer {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn sixteen_hostile_uploads_keep_the_server_small_and_answering() {
    let server = start_limited(&[], &[], None);
    let pid = server.child.id();
    let before = memory_kb(pid, "VmRSS");
    let photo = jpeg(640, 480);
    let big = vec![b'x'; 19 << 20];
    let long_field = vec![b'7'; 2 << 20];
    let many: Vec<(String, Vec<u8>)> = (0..64).map(|i| (format!("f{i}"), b"1".to_vec())).collect();
    let many_parts: Vec<(&str, Option<&str>, &[u8])> =
        std::iter::once(("image", Some("a.jpg"), photo.as_slice())).chain(many.iter().map(|(n, v)| (n.as_str(), None, v.as_slice()))).collect();
    let hostile: Vec<(&str, Vec<u8>, u16)> = vec![
        ("two images", multipart(&[("image", Some("a.jpg"), &photo), ("image", Some("b.jpg"), &big)]), 400),
        ("a 2 MB field", multipart(&[("image", Some("a.jpg"), &photo), ("k", None, &long_field)]), 413),
        ("64 fields", multipart(&many_parts), 400),
        ("a 19 MB non-image", multipart(&[("image", Some("x.jpg"), &big)]), 415),
    ];
    std::thread::scope(|scope| {
        for (what, body, want) in hostile.iter().flat_map(|h| std::iter::repeat_n(h, 4)) {
            let server = &server;
            scope.spawn(move || {
                let (status, answer) = post_upload(server, body);
                assert_eq!(status, *want, "{what}: {answer}");
            });
        }
    });
    // A body larger than any upload may be is refused from its length.
    let (status, answer) = raw(
        &server,
        &format!("POST /api/search_image HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 900000000\r\n", server.addr),
    );
    assert_eq!(status, 413, "{answer}");
    let grown_mb = memory_kb(pid, "VmHWM").saturating_sub(before) / 1024;
    eprintln!("16 hostile uploads: server peak grew {grown_mb} MB over {} MB", before / 1024);
    assert!(grown_mb < 400, "the server's peak grew {grown_mb} MB");
    let (status, _) = post_upload(&server, &multipart(&[("image", Some("a.jpg"), &photo), ("k", None, b"5")]));
    assert_eq!(status, 200, "a real upload after the hostile ones");
}

#[test]
fn sixteen_clients_share_one_duplicate_search_and_long_filters_are_refused() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = start_serving(&[], &[("RUST_LOG", "clipfind_engine=info,error")], None, Stdio::from(log.reopen().unwrap()));
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let asks: Vec<_> = (0..16).map(|_| scope.spawn(|| request(&server, "GET", "/api/duplicates", ""))).collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(body(answer).len(), body(&answers[0].1).len());
    }
    let searched = std::fs::read_to_string(log.path()).unwrap().matches("searched near-duplicate pairs").count();
    assert_eq!(searched, 1, "16 concurrent first calls searched the pairs {searched} times");

    let longest_ext = vec!["jpg"; 32].join(",");
    let too_many_ext = vec!["jpg"; 1000].join(",");
    let longest_query = vec!["dog"; 16].join("+%2B+");
    let too_many_terms = vec!["dog"; 330].join("+%2B+");
    std::thread::scope(|scope| {
        for i in 0..16 {
            let (longest_ext, too_many_ext, longest_query, too_many_terms, server) = (&longest_ext, &too_many_ext, &longest_query, &too_many_terms, &server);
            scope.spawn(move || {
                let (path, want) = match i % 4 {
                    0 => (format!("/api/search?q=dog&ext={longest_ext}"), 200),
                    1 => (format!("/api/search?q=dog&ext={too_many_ext}"), 400),
                    2 => (format!("/api/search?q={longest_query}"), 200),
                    _ => (format!("/api/search?q={too_many_terms}"), 400),
                };
                let (status, answer) = request(server, "GET", &path, "");
                assert_eq!(status, want, "{}: {}", &path[..60.min(path.len())], body(&answer));
            });
        }
    });
}

#[test]
fn live_streams_are_capped_apart_from_connections() {
    let server = start_limited(&[], &[], None);
    let open: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(format!("GET /api/live HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr).as_bytes()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut first = [0u8; 12];
            s.read_exact(&mut first).unwrap();
            assert_eq!(&first[9..12], b"200");
            s
        })
        .collect();
    let (status, answer) = request(&server, "GET", "/api/live", "");
    assert_eq!(status, 503, "{answer}");
    assert!(header(&answer, "retry-after").is_some());
    let (status, _) = request(&server, "GET", "/api/search?q=dog", "");
    assert_eq!(status, 200, "searches still answer");
    drop(open);
    let deadline = Instant::now() + Duration::from_secs(10);
    while request(&server, "GET", "/api/live", "").0 != 200 {
        assert!(Instant::now() < deadline, "closed streams did not free their slots");
        std::thread::sleep(Duration::from_millis(100));
    }
}
