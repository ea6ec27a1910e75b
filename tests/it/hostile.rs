//! A hostile photo folder (an unpacked archive, a synced share) through the real `clipfind`
//! binary: links planted in the index folder, an original swapped for a link after indexing, a
//! playlist that would hang FFmpeg, and a generated folder of links, odd names and hostile media.
//! Each checks that indexing ends, that nothing outside the folder changes, and that the server
//! serves nothing from outside.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::unix::fs::{symlink, FileTypeExt, MetadataExt},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::indexing::{fixture, root, tiny};

/// Runs `clipfind index --json` on `data`, killed (and the test failed) past `limit`.
fn index_within(data: &Path, limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .args(["index", "--json", "--data"])
        .arg(data)
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .env_remove("CLIPFIND_INDEX")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("indexing still running after {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn summary(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What a tree holds, read without following links or opening anything but plain files: each
/// entry's kind, size, mtime, and its content or link target.
fn fingerprint(dir: &Path, leave_out: &[&Path]) -> BTreeMap<PathBuf, String> {
    let mut all = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if leave_out.contains(&path.as_path()) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            let what = if kind.is_symlink() {
                format!("link to {}", std::fs::read_link(&path).unwrap().display())
            } else if kind.is_dir() {
                pending.push(path.clone());
                format!("folder {:o}", meta.mode())
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                format!("file {} {}.{} {:x}", meta.len(), meta.mtime(), meta.mtime_nsec(), content_hash(&bytes))
            } else {
                format!("special {:?} {:o}", kind.is_fifo(), meta.mode())
            };
            all.insert(path, what);
        }
    }
    all
}

fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A home folder beside the album: what a planted link would reach.
struct Surroundings {
    dir: tempfile::TempDir,
}

impl Surroundings {
    fn new() -> Surroundings {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("Documents")).unwrap();
        std::fs::write(home.join("Documents/report.txt"), "SECRET report").unwrap();
        std::fs::write(home.join(".profile"), "SECRET profile\nexport PATH=$PATH\n").unwrap();
        std::fs::write(home.join("status.json"), "SECRET status").unwrap();
        // Named like a thumbnail, so a pruning that followed links would take it.
        std::fs::create_dir_all(home.join("ab")).unwrap();
        std::fs::write(home.join("ab/abc12300000000000000000000000000.jpg"), "SECRET jpg").unwrap();
        let album = dir.path().join("album");
        std::fs::create_dir_all(&album).unwrap();
        for name in ["photo.jpg", "wide.png"] {
            std::fs::copy(fixture(&format!("images/{name}")), album.join(name)).unwrap();
        }
        Surroundings { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn album(&self) -> PathBuf {
        self.dir.path().join("album")
    }

    fn index_dir(&self) -> PathBuf {
        self.album().join(".clipfind")
    }

    /// Everything but the index folder.
    fn fingerprint(&self) -> BTreeMap<PathBuf, String> {
        fingerprint(self.dir.path(), &[&self.index_dir()])
    }
}

#[test]
fn links_planted_in_the_index_folder_are_refused_and_change_nothing_they_lead_to() {
    let plant_before_the_first_run: [(&str, &dyn Fn(&Surroundings) -> PathBuf); 4] = [
        ("thumbs", &|s| s.home()),
        ("writer.lock", &|s| s.home().join(".profile")),
        ("indexing.json", &|s| s.home().join("status.json")),
        ("catalog.sqlite", &|s| s.home().join("Documents/report.txt")),
    ];
    for (name, target) in plant_before_the_first_run {
        let s = Surroundings::new();
        std::fs::create_dir_all(s.index_dir()).unwrap();
        symlink(target(&s), s.index_dir().join(name)).unwrap();
        let before = s.fingerprint();
        let out = index_within(&s.album(), Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: indexed through a planted link");
        assert!(stderr.contains("refusing the index folder") && stderr.contains(name), "{name}: {stderr}");
        assert_eq!(s.fingerprint(), before, "{name}: something outside the index changed");
    }

    // A shard planted in the thumbnails of a working index, then a photo deleted so that
    // pruning runs: the run refuses, and the home folder keeps every file.
    let s = Surroundings::new();
    summary(&index_within(&s.album(), Duration::from_secs(120)));
    symlink(s.home(), s.index_dir().join("thumbs/de")).unwrap();
    std::fs::remove_file(s.album().join("wide.png")).unwrap();
    let before = s.fingerprint();
    let out = index_within(&s.album(), Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("refusing the index folder"), "{stderr}");
    assert_eq!(s.fingerprint(), before);
    // Taken away, the index works again.
    std::fs::remove_file(s.index_dir().join("thumbs/de")).unwrap();
    let done = summary(&index_within(&s.album(), Duration::from_secs(120)));
    assert_eq!((done["removed"].as_u64(), done["total"].as_u64()), (Some(1), Some(1)), "{done:#}");
    assert_eq!(s.fingerprint(), before);
}

#[test]
fn a_playlist_named_like_a_video_is_skipped_and_indexing_ends() {
    let s = Surroundings::new();
    mkfifo(&s.album().join("segment.ts"));
    std::fs::write(s.album().join("clip.mp4"), "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nsegment.ts\n#EXT-X-ENDLIST\n")
        .unwrap();
    let done = summary(&index_within(&s.album(), Duration::from_secs(120)));
    let skipped = done["skipped"].as_array().unwrap();
    let clip = skipped.iter().find(|f| f["path"] == "clip.mp4").unwrap_or_else(|| panic!("{done:#}"));
    assert!(clip["reason"].as_str().unwrap().contains("its content is hls, not a video container"), "{clip}");
    assert_eq!(done["total"].as_u64(), Some(2), "{done:#}");
}

// ---------------------------------------------------------------------------------------------
// A server over the album

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path) -> Server {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_clipfind"))
        .arg("serve")
        .env("CLIPFIND_DATA", data)
        .env("CLIPFIND_MODEL", tiny())
        .env("CLIPFIND_DEVICE", "cpu")
        .env_remove("CLIPFIND_INDEX")
        .env("LEPTOS_SITE_ADDR", &addr)
        .env("LEPTOS_OUTPUT_NAME", "clipfind")
        .env("LEPTOS_SITE_ROOT", root().join("target/site"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&server, "/api/status").0 != 200 {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// `GET target`: the status and the body (0 when no answer came).
fn get(server: &Server, target: &str) -> (u16, Vec<u8>) {
    let Ok(mut stream) = TcpStream::connect(&server.addr) else { return (0, Vec::new()) };
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr);
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, Vec::new());
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else { return (0, Vec::new()) };
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = answer[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    (status, body)
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || raw.len() < end + 2 + size {
            break;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[(end + 4 + size).min(raw.len())..];
    }
    body
}

fn images_in_index(server: &Server) -> u64 {
    let (_, body) = get(server, "/api/status");
    let status: Value = serde_json::from_slice(&body).unwrap_or_default();
    status["images"].as_u64().unwrap_or(u64::MAX)
}

fn id_of(server: &Server, path: &str) -> i64 {
    let (status, body) = get(server, "/api/search?q=photo&k=50&min=-1");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let hits: Value = serde_json::from_slice(&body).unwrap();
    let hit = hits["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{hits:#}")).iter().find(|h| h["path"] == path).unwrap_or_else(|| panic!("{path} not in {hits:#}"));
    hit["id"].as_i64().unwrap()
}

#[test]
fn an_original_swapped_for_a_link_is_not_served_before_or_after_a_reindex() {
    let s = Surroundings::new();
    let secret = s.home().join("Documents/report.txt");
    // No thumbnails written: /thumb would fall back to the original.
    let args = ["index", "--json", "--no-thumbnails", "--data"];
    let indexed = Command::new(env!("CARGO_BIN_EXE_clipfind")).args(args).arg(s.album()).env("CLIPFIND_MODEL", tiny()).env("CLIPFIND_DEVICE", "cpu").env_remove("CLIPFIND_INDEX").output().unwrap();
    summary(&indexed);
    let server = serve(&s.album());
    let id = id_of(&server, "photo.jpg");
    let photo = std::fs::read(s.album().join("photo.jpg")).unwrap();
    assert_eq!(get(&server, &format!("/image/{id}")), (200, photo));

    // Swapped after indexing: neither the original nor its thumbnail answers the secret.
    std::fs::remove_file(s.album().join("photo.jpg")).unwrap();
    symlink(&secret, s.album().join("photo.jpg")).unwrap();
    for target in [format!("/image/{id}"), format!("/thumb/{id}")] {
        let (status, body) = get(&server, &target);
        assert_eq!(status, 404, "{target}: {}", String::from_utf8_lossy(&body));
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{target} leaked the secret");
    }

    // Re-indexed: the file no longer decodes, so its row and vector go; still nothing served.
    let done = summary(&index_within(&s.album(), Duration::from_secs(120)));
    assert_eq!(done["removed"].as_u64(), Some(1), "{done:#}");
    assert_eq!(done["total"].as_u64(), Some(1), "{done:#}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while images_in_index(&server) != 1 {
        assert!(Instant::now() < deadline, "the server did not pick up the new index");
        std::thread::sleep(Duration::from_millis(100));
    }
    for target in [format!("/image/{id}"), format!("/thumb/{id}")] {
        let (status, body) = get(&server, &target);
        assert_eq!(status, 404, "{target}");
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{target} leaked the secret");
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzz

/// A small deterministic generator (xorshift), so a failing seed can be run again.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Names a hostile archive could hold: escapes, bidi overrides, newlines, non-UTF-8-looking
/// unicode, leading dashes, very long ones.
const ODD_NAMES: &[&str] = &[
    "\u{1b}[2J\u{1b}]0;pwned\u{7}.jpg",
    "evil\u{202e}gpj.exe.jpg",
    "line\nbreak.png",
    "-rf.jpg",
    "tab\there.jpg",
    "日本語の写真.jpg",
    "spaces   .png",
    "quote\"and'.jpg",
];

/// Generates an album of good images, hostile media, odd names and links of every kind (inside,
/// outside, loops, dangling, to FIFOs and devices) beside a folder of secrets.
fn hostile_album(d: &Path, seed: u64) -> PathBuf {
    let (album, outside) = (d.join("album"), d.join("outside"));
    std::fs::create_dir_all(outside.join("private")).unwrap();
    for name in ["secret.jpg", "secret.png", "private/secret.txt", "private/also.jpg"] {
        std::fs::write(outside.join(name), format!("SECRET {name}")).unwrap();
    }
    mkfifo(&outside.join("pipe.jpg"));
    let mut rng = Rng(seed | 1);
    let images = ["photo.jpg", "wide.png", "cmyk.jpg", "gray.png", "lossy.webp", "palette.gif"];
    let hostile = ["broken/truncated.jpg", "broken/garbage.png", "broken/header-bomb.png", "broken/aspect-bomb.png", "broken/zero-bytes.jpg"];
    let link_targets: Vec<PathBuf> = vec![
        outside.join("secret.jpg"),
        outside.join("private"),
        outside.join("pipe.jpg"),
        outside.clone(),
        "/dev/zero".into(),
        "/dev/urandom".into(),
        "/proc/self".into(),
        "/".into(),
        "..".into(),
        ".".into(),
        "does-not-exist.jpg".into(),
        d.to_path_buf(),
    ];
    for folder in 0..4 {
        let dir = if folder == 0 { album.clone() } else { album.join(format!("f{folder}")) };
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..6 {
            let name = format!("{}-{i}", ODD_NAMES[rng.below(ODD_NAMES.len())]);
            let name = if rng.below(2) == 0 { name.replace(".jpg", "").replace(".png", "") + ".jpg" } else { name };
            let path = dir.join(&name);
            match rng.below(5) {
                0 | 1 => drop(std::fs::copy(fixture(&format!("images/{}", images[rng.below(images.len())])), &path)),
                2 => drop(std::fs::copy(fixture(hostile[rng.below(hostile.len())]), &path)),
                3 => symlink(&link_targets[rng.below(link_targets.len())], &path).unwrap(),
                _ => mkfifo(&path),
            }
        }
        // One link of each kind per folder, under a plain name.
        for (i, target) in link_targets.iter().enumerate() {
            let _ = symlink(target, dir.join(format!("link{i}.jpg")));
        }
        let _ = symlink(album.join("photo-inside.jpg"), dir.join("inside.jpg"));
        std::fs::write(dir.join("clip.mp4"), "#EXTM3U\n#EXTINF:10,\n../outside/pipe.jpg\n#EXT-X-ENDLIST\n").unwrap();
        std::fs::write(dir.join("list.mkv"), "ffconcat version 1.0\nfile /dev/zero\n").unwrap();
    }
    std::fs::copy(fixture("images/portrait.jpg"), album.join("photo-inside.jpg")).unwrap();
    album
}

#[test]
fn a_generated_hostile_folder_indexes_to_the_end_changes_nothing_outside_and_serves_nothing_outside() {
    let seed = std::env::var("CLIPFIND_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026_u64);
    let d = tempfile::tempdir().unwrap();
    let album = hostile_album(d.path(), seed);
    let index_dir = album.join(".clipfind");
    let before = fingerprint(d.path(), &[&index_dir]);

    let done = summary(&index_within(&album, Duration::from_secs(300)));
    assert_eq!(fingerprint(d.path(), &[&index_dir]), before, "seed {seed}: something outside the index changed");
    let total = done["total"].as_u64().unwrap();
    assert!(total >= 5, "seed {seed}: the good images are indexed: {done:#}");
    // Run again: nothing to do, still nothing changed.
    let again = summary(&index_within(&album, Duration::from_secs(300)));
    assert_eq!((again["embedded"].as_u64(), again["total"].as_u64()), (Some(0), Some(total)), "seed {seed}: {again:#}");
    assert_eq!(fingerprint(d.path(), &[&index_dir]), before, "seed {seed}: the second run changed something");

    // Every id the index could hold, and a few past it: nothing served is a secret, and every
    // original served is a file of the album.
    let inside: Vec<Vec<u8>> = walk_files(&album, &index_dir).into_iter().map(|p| std::fs::read(p).unwrap()).collect();
    let server = serve(&album);
    let mut served = 0;
    for id in 0..(total as i64 + 20) {
        for target in [format!("/image/{id}"), format!("/thumb/{id}"), format!("/thumb/{id}?t=0")] {
            let (status, body) = get(&server, &target);
            assert!(status == 200 || status == 404 || status == 400, "seed {seed}: {target} answered {status}");
            assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "seed {seed}: {target} leaked a secret");
            if status == 200 && target.starts_with("/image/") {
                assert!(inside.contains(&body), "seed {seed}: {target} served a file that is not in the album");
                served += 1;
            }
        }
    }
    assert!(served as u64 >= 5, "seed {seed}: served {served} originals of {total}");
    drop(server);
    assert_eq!(fingerprint(d.path(), &[&index_dir]), before, "seed {seed}: serving changed something");
}

/// The plain files of the album, not following links, leaving out the index.
fn walk_files(dir: &Path, leave_out: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if path == leave_out {
            continue;
        } else if kind.is_dir() {
            files.extend(walk_files(&path, leave_out));
        } else if kind.is_file() {
            files.push(path);
        }
    }
    files
}
