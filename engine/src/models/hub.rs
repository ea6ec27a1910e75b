//! The Hugging Face Hub as a file server that is not trusted: redirects followed only within
//! https and a bound, each file capped at its advertised size (or a per-kind cap), resumed where
//! a partial download stopped, and verified against the hub's digest and clipfind's pin.

use std::{
    fs::{self, OpenOptions},
    io::{Read, Write},
    path::Path,
    time::Duration,
};

use crate::{
    support::digest::{git_blob_sha1_file, sha256_file},
    support::progress::Progress,
    EngineError, Result,
};

/// More hops than this is a loop, not a hub.
pub(super) const MAX_REDIRECTS: usize = 10;
/// The most an `.onnx` file may hold when the hub advertises no size: protobuf's 2 GiB limit
/// (a larger model keeps its weights in external data files, which clipfind does not fetch).
pub const MAX_ONNX_BYTES: u64 = 2 << 30;
/// The most any other file (tokenizer, config) may hold: the largest tokenizer of a curated
/// model (XLM-RoBERTa's) is about 17 MB.
pub const MAX_OTHER_BYTES: u64 = 64 << 20;

/// How a downloaded file is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Check {
    /// An LFS file's oid.
    Sha256(String),
    /// A regular file's git object id, `sha1("blob <len>\0" + bytes)`.
    GitBlobSha1(String),
}

/// What the hub says about one file before it is downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RemoteFile {
    pub(super) url: String,
    pub(super) size: Option<u64>,
    pub(super) check: Option<Check>,
    /// The server continues an interrupted download (`Range`); otherwise it restarts.
    pub(super) resumable: bool,
    pub(super) commit: Option<String>,
    /// The sha256 clipfind pins for the file, checked besides the hub's own digest.
    pub(super) pin: Option<String>,
}

impl RemoteFile {
    pub(super) fn pinned(self, pin: Option<&str>) -> RemoteFile {
        RemoteFile { pin: pin.map(str::to_string), ..self }
    }
}

pub(super) struct Hub {
    pub(super) endpoint: String,
    /// Sees each redirect (the first one carries an LFS file's size and hash).
    pub(super) probe: ureq::Agent,
    /// Asks for gzip and decodes it. Redirects are followed by [`Hub::get`], which checks each.
    pub(super) download: ureq::Agent,
}

impl Hub {
    pub(super) fn new(endpoint: &str) -> Hub {
        let builder = || ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(15)).timeout_read(Duration::from_secs(60));
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            probe: builder().redirects(0).build(),
            download: builder().redirects(0).build(),
        }
    }

    pub(super) fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{file}", self.endpoint)
    }

    /// `HEAD` the file, following redirects on the same host, as `huggingface_hub` does.
    pub(super) fn metadata(&self, url: &str) -> Result<RemoteFile> {
        let mut current = parse_url(url)?;
        let origin = current.origin();
        let mut commit = None;
        for _ in 0..MAX_REDIRECTS {
            let response = self.head(current.as_str())?;
            let from_hub = current.origin() == origin;
            if from_hub {
                commit = commit.or_else(|| response.header("x-repo-commit").map(str::to_ascii_lowercase));
            }
            if !is_redirect(response.status()) {
                return Ok(final_metadata(url, &response, from_hub, commit));
            }
            if let Some(lfs) = lfs_metadata(url, &response, commit.clone()) {
                return Ok(lfs);
            }
            current = redirect_target(&current, &response)?;
        }
        Err(fetch_error(format!("{url}: more than {MAX_REDIRECTS} redirects")))
    }

    /// [`Hub::metadata`], or `None` when the hub has no such file (404).
    pub(super) fn metadata_if_present(&self, url: &str) -> Result<Option<RemoteFile>> {
        match self.probe.head(url).set("Accept-Encoding", "identity").call() {
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(ureq::Error::Transport(t)) => Err(offline(url, &t)),
            _ => self.metadata(url).map(Some),
        }
    }

    pub(super) fn head(&self, url: &str) -> Result<ureq::Response> {
        // `identity`: a Content-Length that is the file's size, not a compressed one.
        answer(self.probe.head(url).set("Accept-Encoding", "identity").call(), url)
    }

    /// `GET` the file from byte `have` on, following redirects that [`next_hop`] allows.
    pub(super) fn get(&self, url: &str, have: u64) -> Result<ureq::Response> {
        let mut current = parse_url(url)?;
        for _ in 0..MAX_REDIRECTS {
            let mut request = self.download.get(current.as_str());
            if have > 0 {
                request = request.set("Range", &format!("bytes={have}-"));
            }
            let response = answer(request.call(), current.as_str())?;
            if !is_redirect(response.status()) {
                return Ok(response);
            }
            current = redirect_target(&current, &response)?;
        }
        Err(fetch_error(format!("{url}: more than {MAX_REDIRECTS} redirects")))
    }

    /// Downloads one file to `path` (continuing what is there when the server can), verifies it
    /// and returns its sha256. A file that fails verification, or outgrows its cap, is removed.
    pub(super) fn download(&self, remote: &RemoteFile, path: &Path, label: &str, progress: &dyn Progress) -> Result<String> {
        refuse_unverifiable(remote, label)?;
        let cap = byte_cap(label, remote.size)?;
        let mut have = if remote.resumable { fs::metadata(path).map(|m| m.len()).unwrap_or(0) } else { 0 };
        if remote.size.is_some_and(|size| have > size) {
            have = 0; // longer than the file: not a prefix of it
        }
        if !(have > 0 && remote.size == Some(have)) {
            self.transfer(remote, path, have, cap, label, progress)?;
        }
        verify(remote, path, label)
    }

    /// Writes the file's bytes from `have` on into `path`, never more than `cap` in all.
    pub(super) fn transfer(&self, remote: &RemoteFile, path: &Path, have: u64, cap: u64, label: &str, progress: &dyn Progress) -> Result<()> {
        let io = |source| EngineError::Io { path: path.to_path_buf(), source };
        let response = self.get(&remote.url, have)?;
        let start = resumed_from(&response, have).map_err(|reason| fetch_error(format!("{label}: {reason}")))?;
        let mut file = OpenOptions::new().create(true).write(true).append(start > 0).truncate(start == 0).open(path).map_err(io)?;
        progress.begin(label, remote.size, start);
        let copied = copy_body(response.into_reader(), &mut file, cap.saturating_sub(start), progress);
        progress.finish();
        match copied {
            Ok(BodyEnd::Complete) => file.sync_all().map_err(io),
            Ok(BodyEnd::OverCap) => {
                // Never the file (it is longer than it may be): keep none of it.
                drop(file);
                fs::remove_file(path).map_err(io)?;
                Err(fetch_error(over_cap(label, remote.size, cap)))
            }
            Err(e) => {
                let again = if remote.resumable { "run the command again to resume" } else { "run the command again" };
                if !remote.resumable {
                    let _ = fs::remove_file(path);
                }
                Err(fetch_error(format!("{label}: download interrupted ({e}); {again}")))
            }
        }
    }
}

pub(super) fn parse_url(url: &str) -> Result<url::Url> {
    url::Url::parse(url).map_err(|e| fetch_error(format!("{url}: {e}")))
}

pub(super) fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// The response to a call, a redirect included; HTTP errors and unreachable servers as clipfind words them.
pub(super) fn answer(called: std::result::Result<ureq::Response, ureq::Error>, url: &str) -> Result<ureq::Response> {
    match called {
        Ok(response) => Ok(response),
        Err(ureq::Error::Status(code, response)) if is_redirect(code) => Ok(response),
        Err(ureq::Error::Status(code, _)) => Err(http_error(url, code)),
        Err(ureq::Error::Transport(t)) => Err(offline(url, &t)),
    }
}

/// Where the redirect `response` to `current` leads.
pub(super) fn redirect_target(current: &url::Url, response: &ureq::Response) -> Result<url::Url> {
    let location = response
        .header("location")
        .ok_or_else(|| fetch_error(format!("{current}: HTTP {} without a Location", response.status())))?;
    next_hop(current, location)
}

/// `location` read against `current`, refused when it leaves https: a model asked for over
/// https must not arrive over a connection anyone on the way can read or rewrite.
pub(super) fn next_hop(current: &url::Url, location: &str) -> Result<url::Url> {
    let next = current.join(location).map_err(|e| fetch_error(format!("{current}: bad Location `{location}`: {e}")))?;
    if current.scheme() == "https" && next.scheme() != "https" {
        return Err(fetch_error(format!(
            "{current} redirects to {next}; refusing to follow a redirect from https to {}",
            next.scheme()
        )));
    }
    Ok(next)
}

/// Refuses, before any byte is downloaded, a file nothing could verify, or one whose hub sha256
/// is not the one clipfind pins.
pub(super) fn refuse_unverifiable(remote: &RemoteFile, label: &str) -> Result<()> {
    match (&remote.check, &remote.pin) {
        (None, None) => Err(fetch_error(format!(
            "the hub gave no digest for {label} and clipfind pins none; refusing a file that cannot be verified"
        ))),
        (Some(Check::Sha256(hub)), Some(pin)) if hub != pin => Err(fetch_error(format!(
            "{label}: the hub serves sha256 {hub}, clipfind pins {pin}; refusing it"
        ))),
        _ => Ok(()),
    }
}

/// The most bytes the file `label` may hold: its advertised size, else the cap for its kind.
/// An advertised size over that cap is refused too: no file clipfind reads is that large.
pub(super) fn byte_cap(label: &str, advertised: Option<u64>) -> Result<u64> {
    let cap = if label.ends_with(".onnx") { MAX_ONNX_BYTES } else { MAX_OTHER_BYTES };
    match advertised {
        Some(size) if size > cap => Err(fetch_error(format!(
            "{label}: the hub advertises {size} bytes, more than clipfind accepts for such a file ({cap} bytes)"
        ))),
        Some(size) => Ok(size),
        None => Ok(cap),
    }
}

pub(super) fn over_cap(label: &str, advertised: Option<u64>, cap: u64) -> String {
    match advertised {
        Some(size) => format!("{label}: the server sent more than the {size} bytes the hub advertised; removed it"),
        None => format!("{label}: more than {cap} bytes, the most clipfind accepts for such a file when the hub gives no size; removed it"),
    }
}

/// Where the body of `response` starts in the file: `have` for a matching partial answer, 0 for a whole one.
pub(super) fn resumed_from(response: &ureq::Response, have: u64) -> std::result::Result<u64, String> {
    if response.status() != 206 {
        return Ok(0);
    }
    let range = response.header("content-range").unwrap_or_default();
    match range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse::<u64>().ok()) {
        Some(start) if start == have => Ok(have),
        _ => Err(format!("asked for bytes {have}- and the server answered `{range}`")),
    }
}

/// How a body ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BodyEnd {
    Complete,
    /// It went on past its limit; what was written is not the file.
    OverCap,
}

/// Copies `body` into `file`, stopping once it outgrows `limit` bytes. The bytes counted are
/// those read, after gzip is decoded, so a small compressed bomb cannot expand without bound.
pub(super) fn copy_body(body: impl Read, file: &mut impl Write, limit: u64, progress: &dyn Progress) -> std::io::Result<BodyEnd> {
    // One byte past the limit tells a longer body from one that ends there.
    let mut body = body.take(limit.saturating_add(1));
    let mut buf = vec![0u8; 1 << 16];
    let mut written = 0u64;
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            return Ok(BodyEnd::Complete);
        }
        if written + n as u64 > limit {
            return Ok(BodyEnd::OverCap);
        }
        file.write_all(&buf[..n])?;
        written += n as u64;
        progress.advance(n as u64);
    }
}

/// An LFS file: the hub's first redirect carries its size and sha256.
pub(super) fn lfs_metadata(url: &str, redirect: &ureq::Response, commit: Option<String>) -> Option<RemoteFile> {
    let size = redirect.header("x-linked-size")?.trim().parse().ok()?;
    let check = redirect.header("x-linked-etag").and_then(|etag| hex_digest(etag, 64)).map(Check::Sha256);
    Some(RemoteFile { url: url.into(), size: Some(size), check, resumable: true, commit, pin: None })
}

/// A file served directly (older hubs, mirrors, or the end of a relative redirect for a regular file).
pub(super) fn final_metadata(url: &str, response: &ureq::Response, from_hub: bool, commit: Option<String>) -> RemoteFile {
    let encoded = response.header("content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
    let size = if encoded { None } else { response.header("content-length").and_then(|v| v.trim().parse().ok()) };
    let etag = response.header("x-linked-etag").or_else(|| response.header("etag"));
    // A storage server's ETag (an MD5, say) proves nothing; only the hub's names the content.
    let check = etag.filter(|_| from_hub).and_then(|etag| {
        hex_digest(etag, 64).map(Check::Sha256).or_else(|| hex_digest(etag, 40).map(Check::GitBlobSha1))
    });
    let ranges = response.header("accept-ranges").is_some_and(|v| v.eq_ignore_ascii_case("bytes"));
    let resumable = !encoded && size.is_some() && match check {
        Some(Check::Sha256(_)) => true,
        Some(Check::GitBlobSha1(_)) => false, // regular files are small: restart them
        None => ranges,
    };
    RemoteFile { url: url.into(), size, check, resumable, commit, pin: None }
}

/// `"abc…"`, `W/"abc…"` -> `abc…` when it is `len` hex digits.
pub(super) fn hex_digest(etag: &str, len: usize) -> Option<String> {
    let value = etag.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
    (value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit())).then_some(value)
}

/// Checks size and digest; returns the sha256. Removes what can never become the right file.
pub(super) fn verify(remote: &RemoteFile, path: &Path, label: &str) -> Result<String> {
    let io = |source| EngineError::Io { path: path.to_path_buf(), source };
    let remove = || fs::remove_file(path).map_err(io);
    let size = fs::metadata(path).map_err(io)?.len();
    if let Some(want) = remote.size.filter(|want| *want != size) {
        if size < want && remote.resumable {
            return Err(fetch_error(format!("{label}: got {size} of {want} bytes; run the command again to resume")));
        }
        remove()?;
        return Err(fetch_error(format!("{label}: got {size} bytes, expected {want}; removed it, run the command again")));
    }
    let sha256 = sha256_file(path)?;
    let by_hub = match &remote.check {
        Some(Check::Sha256(want)) => Some(("sha256", sha256.clone(), want)),
        Some(Check::GitBlobSha1(want)) => Some(("git blob sha1", git_blob_sha1_file(path)?, want)),
        None => None,
    };
    if let Some((kind, got, want)) = by_hub.filter(|(_, got, want)| got != *want) {
        remove()?;
        return Err(fetch_error(format!("{label} is corrupt: {kind} {got}, expected {want}; removed it, run the command again")));
    }
    if let Some(pin) = remote.pin.as_ref().filter(|pin| **pin != sha256) {
        remove()?;
        return Err(fetch_error(format!(
            "{label} is not the file clipfind pins: sha256 {sha256}, expected {pin}; removed it (the hub serves other content)"
        )));
    }
    Ok(sha256)
}

pub(super) fn fetch_error(reason: String) -> EngineError {
    EngineError::Fetch(reason)
}

pub(super) fn http_error(url: &str, code: u16) -> EngineError {
    let hint = match code {
        401 | 403 => " (the repository is gated or private)",
        404 => " (no such repository, revision or file)",
        _ => "",
    };
    fetch_error(format!("{url}: HTTP {code}{hint}"))
}

pub(super) fn offline(url: &str, e: &ureq::Transport) -> EngineError {
    // ureq's own message repeats the URL; say it once, with the cause.
    let cause = std::error::Error::source(e).map_or_else(|| e.kind().to_string(), |s| format!("{}: {s}", e.kind()));
    fetch_error(format!(
        "cannot reach {url} ({cause}). Downloading a model needs internet; if you are offline, use the \
         bundled demo model, or set HF_ENDPOINT to a reachable mirror"
    ))
}
