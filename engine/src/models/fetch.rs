//! Downloading a model from the Hugging Face Hub (or a mirror in `HF_ENDPOINT`) at a pinned
//! revision. File metadata is read as `huggingface_hub` reads it (relative redirects followed,
//! `X-Linked-*` taken from an LFS redirect, never a redirect's own `Content-Length`); every file
//! is verified (LFS files by sha256, regular files by git blob sha1, and against the sha256
//! clipfind pins where it pins one; a file nothing can verify is refused); no redirect leads from
//! https down to http; no file grows past its advertised size (or, without one, a cap per kind of
//! file, counted after gzip is decoded); LFS downloads resume with `Range`; the model folder is
//! swapped in whole, so a broken download never looks installed.

use std::{
    fs::{self, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use super::{Layout, ModelFile, Source, IMMICH_FILES};
use crate::{
    clip::{
        immich,
        spec::{ModelSpec, TextSpec, VisionSpec, OPENAI_MEAN, OPENAI_STD, SPEC_FILE, SPEC_FORMAT},
    },
    support::digest::{git_blob_sha1_file, sha256_file},
    support::progress::Progress,
    EngineError, Result,
};

/// Base URL of the Hugging Face Hub, used when no mirror is given.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// More hops than this is a loop, not a hub.
const MAX_REDIRECTS: usize = 10;
/// The most an `.onnx` file may hold when the hub advertises no size: protobuf's 2 GiB limit
/// (a larger model keeps its weights in external data files, which clipfind does not fetch).
pub const MAX_ONNX_BYTES: u64 = 2 << 30;
/// The most any other file (tokenizer, config) may hold: the largest tokenizer of a curated
/// model (XLM-RoBERTa's) is about 17 MB.
pub const MAX_OTHER_BYTES: u64 = 64 << 20;

/// What to download, from where, into which models folder.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    /// The model to download.
    pub model: &'a Source,
    /// The models folder; the model is installed in `root/NAME`.
    pub root: &'a Path,
    /// Base URL of the Hub or a mirror (a trailing `/` is ignored).
    pub endpoint: &'a str,
    /// A commit hash (or branch) of the model's repository; `None`: the model's pinned revision.
    pub revision: Option<&'a str>,
    /// Download again even when an intact copy is installed.
    pub force: bool,
}

impl FetchRequest<'_> {
    /// The revision to download: the one asked for, else the model's pinned commit.
    pub fn revision(&self) -> &str {
        self.revision.unwrap_or(&self.model.revision)
    }
}

/// What `fetch` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Downloaded, verified and installed in this folder.
    Installed(PathBuf),
    /// An intact copy at this revision was already installed here; nothing was downloaded.
    AlreadyInstalled(PathBuf),
}

/// Installs `request.model` into `root/NAME`, resuming an earlier partial download.
pub fn fetch(request: &FetchRequest, progress: &dyn Progress) -> Result<Fetched> {
    let dest = request.root.join(&request.model.name);
    if !request.force && is_installed_intact(&dest, request.model, request.revision())? {
        return Ok(Fetched::AlreadyInstalled(dest));
    }
    let hub = Hub::new(request.endpoint);
    let partial = request.root.join(format!(".{}.partial", request.model.name));
    let model = &discover(&hub, request.model, request.revision(), &partial, progress)?;
    let remotes = model
        .files
        .iter()
        .map(|file| {
            let remote = hub.metadata(&hub.resolve_url(&model.repo, request.revision(), &file.remote))?;
            Ok(remote.pinned(file.sha256.as_deref()))
        })
        .collect::<Result<Vec<_>>>()?;
    let commit = agreed_commit(&remotes, request.revision())?;

    fs::create_dir_all(&partial).map_err(|source| EngineError::Io { path: partial.clone(), source })?;
    let downloaded = download_all(&hub, model, &remotes, &partial, progress);
    let sha256 = match downloaded {
        Ok(sha256) => sha256,
        Err(e) => {
            // Nothing of use was written: leave no empty folder behind.
            let _ = fs::remove_dir(&partial);
            return Err(e);
        }
    };
    model_spec(model, &hub, &partial, commit, sha256)?.write(&partial)?;
    install(&partial, &dest)?;
    Ok(Fetched::Installed(dest))
}

/// Whether `dest` holds this model at `revision` with every file matching its recorded sha256.
/// A folder from before revisions were recorded counts when its files are intact. A branch
/// (not a commit) counts as installed at whichever commit it was fetched (`--force` updates it).
pub fn is_installed_intact(dest: &Path, model: &Source, revision: &str) -> Result<bool> {
    let Ok(spec) = ModelSpec::read_file(dest) else { return Ok(false) };
    let same_revision = match spec.revision.as_deref() {
        Some(installed) if is_commit_hash(revision) => installed.eq_ignore_ascii_case(revision),
        Some(_) => spec.source.ends_with(&format!("/{}", model.repo)),
        None => true,
    };
    let listed = model.files.iter().filter(|f| f.local != SPEC_FILE).all(|f| spec.sha256.contains_key(&f.local));
    if !same_revision || !listed || spec.sha256.is_empty() {
        return Ok(false);
    }
    for (local, want) in &spec.sha256 {
        let path = dest.join(local);
        if !path.is_file() || sha256_file(&path)? != *want {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `model` with its layout and files known. A repository named by the user is looked at first:
/// a `clipfind-model.json` at its root (downloaded into `partial`, it names the files), else
/// Immich's `config.json`.
fn discover(hub: &Hub, model: &Source, revision: &str, partial: &Path, progress: &dyn Progress) -> Result<Source> {
    if model.layout.is_some() {
        return Ok(model.clone());
    }
    let url = |file: &str| hub.resolve_url(&model.repo, revision, file);
    if let Some(remote) = hub.metadata_if_present(&url(SPEC_FILE))? {
        fs::create_dir_all(partial).map_err(|source| EngineError::Io { path: partial.to_path_buf(), source })?;
        hub.download(&remote, &partial.join(SPEC_FILE), SPEC_FILE, progress)?;
        let spec = ModelSpec::read_file(partial)?;
        let mut files = vec![SPEC_FILE.to_string(), spec.text.file.clone(), spec.vision.file.clone(), spec.tokenizer.clone()];
        files.extend(spec.text.int8_file.clone());
        // The names come from the repository: none may point outside the model folder.
        if let Some(outside) = files.iter().find(|f| !is_inside_folder(f)) {
            return Err(fetch_error(format!("{}'s {SPEC_FILE} names the file {outside:?}, which is not inside a model folder", model.repo)));
        }
        return Ok(Source {
            layout: Some(Layout::Clipfind),
            files: files.iter().map(|f| ModelFile::unpinned(f, f)).collect(),
            description: spec.description,
            license: spec.license,
            ..model.clone()
        });
    }
    if hub.metadata_if_present(&url(immich::CONFIG))?.is_some() {
        let files = IMMICH_FILES.iter().map(|(remote, local)| ModelFile::unpinned(remote, local)).collect();
        return Ok(Source { layout: Some(Layout::Immich), files, ..model.clone() });
    }
    Err(fetch_error(format!(
        "{} at {revision} holds no model clipfind can read: neither a {SPEC_FILE} (clipfind's layout) nor a config.json (Immich's)",
        model.repo
    )))
}

/// Whether `file` is a plain relative path (`a.onnx`, `textual/model.onnx`): no `..`, no root.
fn is_inside_folder(file: &str) -> bool {
    !file.is_empty() && Path::new(file).components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// The commit the hub says it served: one for every file, and the pinned one when a commit was asked for.
fn agreed_commit(remotes: &[RemoteFile], revision: &str) -> Result<String> {
    let mut commits = remotes.iter().filter_map(|r| r.commit.as_deref());
    let Some(first) = commits.next() else { return Ok(revision.to_string()) };
    if commits.any(|c| c != first) {
        return Err(fetch_error("the hub answered from different commits for one revision; run the command again".into()));
    }
    if is_commit_hash(revision) && !first.eq_ignore_ascii_case(revision) {
        return Err(fetch_error(format!("asked for commit {revision}, the hub answered with commit {first}")));
    }
    Ok(first.to_ascii_lowercase())
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Downloads and verifies each file into `partial`; returns the sha256 of each, by local name.
fn download_all(
    hub: &Hub,
    model: &Source,
    remotes: &[RemoteFile],
    partial: &Path,
    progress: &dyn Progress,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut sha256 = std::collections::BTreeMap::new();
    for (ModelFile { local, .. }, remote) in model.files.iter().zip(remotes) {
        let path = partial.join(local);
        if local == SPEC_FILE && path.is_file() {
            // Read while discovering the layout; the description written at the end replaces it.
            continue;
        }
        if let Some(folder) = path.parent() {
            fs::create_dir_all(folder).map_err(|source| EngineError::Io { path: folder.to_path_buf(), source })?;
        }
        let digest = hub.download(remote, &path, local, progress)?;
        sha256.insert(local.clone(), digest);
    }
    Ok(sha256)
}

/// The description written beside the downloaded files: derived from an Immich repository's own
/// config files, or OpenAI CLIP's for Xenova's export; plus where the files came from.
fn model_spec(
    model: &Source,
    hub: &Hub,
    folder: &Path,
    commit: String,
    sha256: std::collections::BTreeMap<String, String>,
) -> Result<ModelSpec> {
    let derived = match model.layout.expect("discovered before downloading") {
        Layout::Immich => immich::derive_spec(folder)?,
        Layout::Xenova => openai_clip_spec(model),
        Layout::Clipfind => published_spec(folder, &sha256)?,
    };
    Ok(ModelSpec {
        name: model.name.clone(),
        description: model.description.clone(),
        source: format!("{}/{}", hub.endpoint, model.repo),
        revision: Some(commit),
        license: model.license.clone(),
        sha256,
        ..derived
    })
}

/// The repository's own description, refused when its files are not the ones it lists.
fn published_spec(folder: &Path, downloaded: &std::collections::BTreeMap<String, String>) -> Result<ModelSpec> {
    let spec = ModelSpec::read_file(folder)?;
    for (file, listed) in &spec.sha256 {
        if downloaded.get(file).is_some_and(|got| !got.eq_ignore_ascii_case(listed)) {
            return Err(fetch_error(format!("{file} is not the file the repository's {SPEC_FILE} lists (sha256 {listed})")));
        }
    }
    Ok(spec)
}

/// OpenAI CLIP ViT-B/32 as Xenova exports it.
fn openai_clip_spec(model: &Source) -> ModelSpec {
    ModelSpec {
        format: SPEC_FORMAT,
        family: "openai-clip".into(),
        name: model.name.clone(),
        description: String::new(),
        source: String::new(),
        revision: None,
        license: String::new(),
        embedding_dim: 512,
        image_size: 224,
        image_mean: OPENAI_MEAN,
        image_std: OPENAI_STD,
        context_length: 77,
        text: TextSpec {
            file: "text.onnx".into(),
            input_ids: "input_ids".into(),
            attention_mask: None,
            output: "text_embeds".into(),
            int8_file: model.files.iter().any(|f| f.local == super::INT8_TEXT_FILE).then(|| super::INT8_TEXT_FILE.into()),
            ..Default::default()
        },
        vision: VisionSpec { file: "vision.onnx".into(), input: "pixel_values".into(), output: "image_embeds".into(), ..Default::default() },
        tokenizer: "tokenizer.json".into(),
        sha256: Default::default(),
        batch: Default::default(),
    }
}

/// Replaces `dest` with the finished `partial` folder.
fn install(partial: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        fs::remove_dir_all(dest).map_err(|source| EngineError::Io { path: dest.to_path_buf(), source })?;
    }
    fs::rename(partial, dest).map_err(|source| EngineError::Io { path: dest.to_path_buf(), source })
}

/// How a downloaded file is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// An LFS file's oid.
    Sha256(String),
    /// A regular file's git object id, `sha1("blob <len>\0" + bytes)`.
    GitBlobSha1(String),
}

/// What the hub says about one file before it is downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoteFile {
    url: String,
    size: Option<u64>,
    check: Option<Check>,
    /// The server continues an interrupted download (`Range`); otherwise it restarts.
    resumable: bool,
    commit: Option<String>,
    /// The sha256 clipfind pins for the file, checked besides the hub's own digest.
    pin: Option<String>,
}

impl RemoteFile {
    fn pinned(self, pin: Option<&str>) -> RemoteFile {
        RemoteFile { pin: pin.map(str::to_string), ..self }
    }
}

struct Hub {
    endpoint: String,
    /// Sees each redirect (the first one carries an LFS file's size and hash).
    probe: ureq::Agent,
    /// Asks for gzip and decodes it. Redirects are followed by [`Hub::get`], which checks each.
    download: ureq::Agent,
}

impl Hub {
    fn new(endpoint: &str) -> Hub {
        let builder = || ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(15)).timeout_read(Duration::from_secs(60));
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            probe: builder().redirects(0).build(),
            download: builder().redirects(0).build(),
        }
    }

    fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{file}", self.endpoint)
    }

    /// `HEAD` the file, following redirects on the same host, as `huggingface_hub` does.
    fn metadata(&self, url: &str) -> Result<RemoteFile> {
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
    fn metadata_if_present(&self, url: &str) -> Result<Option<RemoteFile>> {
        match self.probe.head(url).set("Accept-Encoding", "identity").call() {
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(ureq::Error::Transport(t)) => Err(offline(url, &t)),
            _ => self.metadata(url).map(Some),
        }
    }

    fn head(&self, url: &str) -> Result<ureq::Response> {
        // `identity`: a Content-Length that is the file's size, not a compressed one.
        answer(self.probe.head(url).set("Accept-Encoding", "identity").call(), url)
    }

    /// `GET` the file from byte `have` on, following redirects that [`next_hop`] allows.
    fn get(&self, url: &str, have: u64) -> Result<ureq::Response> {
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
    fn download(&self, remote: &RemoteFile, path: &Path, label: &str, progress: &dyn Progress) -> Result<String> {
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
    fn transfer(&self, remote: &RemoteFile, path: &Path, have: u64, cap: u64, label: &str, progress: &dyn Progress) -> Result<()> {
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

fn parse_url(url: &str) -> Result<url::Url> {
    url::Url::parse(url).map_err(|e| fetch_error(format!("{url}: {e}")))
}

fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// The response to a call, a redirect included; HTTP errors and unreachable servers as clipfind words them.
fn answer(called: std::result::Result<ureq::Response, ureq::Error>, url: &str) -> Result<ureq::Response> {
    match called {
        Ok(response) => Ok(response),
        Err(ureq::Error::Status(code, response)) if is_redirect(code) => Ok(response),
        Err(ureq::Error::Status(code, _)) => Err(http_error(url, code)),
        Err(ureq::Error::Transport(t)) => Err(offline(url, &t)),
    }
}

/// Where the redirect `response` to `current` leads.
fn redirect_target(current: &url::Url, response: &ureq::Response) -> Result<url::Url> {
    let location = response
        .header("location")
        .ok_or_else(|| fetch_error(format!("{current}: HTTP {} without a Location", response.status())))?;
    next_hop(current, location)
}

/// `location` read against `current`, refused when it leaves https: a model asked for over
/// https must not arrive over a connection anyone on the way can read or rewrite.
fn next_hop(current: &url::Url, location: &str) -> Result<url::Url> {
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
fn refuse_unverifiable(remote: &RemoteFile, label: &str) -> Result<()> {
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
fn byte_cap(label: &str, advertised: Option<u64>) -> Result<u64> {
    let cap = if label.ends_with(".onnx") { MAX_ONNX_BYTES } else { MAX_OTHER_BYTES };
    match advertised {
        Some(size) if size > cap => Err(fetch_error(format!(
            "{label}: the hub advertises {size} bytes, more than clipfind accepts for such a file ({cap} bytes)"
        ))),
        Some(size) => Ok(size),
        None => Ok(cap),
    }
}

fn over_cap(label: &str, advertised: Option<u64>, cap: u64) -> String {
    match advertised {
        Some(size) => format!("{label}: the server sent more than the {size} bytes the hub advertised; removed it"),
        None => format!("{label}: more than {cap} bytes, the most clipfind accepts for such a file when the hub gives no size; removed it"),
    }
}

/// Where the body of `response` starts in the file: `have` for a matching partial answer, 0 for a whole one.
fn resumed_from(response: &ureq::Response, have: u64) -> std::result::Result<u64, String> {
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
enum BodyEnd {
    Complete,
    /// It went on past its limit; what was written is not the file.
    OverCap,
}

/// Copies `body` into `file`, stopping once it outgrows `limit` bytes. The bytes counted are
/// those read, after gzip is decoded, so a small compressed bomb cannot expand without bound.
fn copy_body(body: impl Read, file: &mut impl Write, limit: u64, progress: &dyn Progress) -> std::io::Result<BodyEnd> {
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
fn lfs_metadata(url: &str, redirect: &ureq::Response, commit: Option<String>) -> Option<RemoteFile> {
    let size = redirect.header("x-linked-size")?.trim().parse().ok()?;
    let check = redirect.header("x-linked-etag").and_then(|etag| hex_digest(etag, 64)).map(Check::Sha256);
    Some(RemoteFile { url: url.into(), size: Some(size), check, resumable: true, commit, pin: None })
}

/// A file served directly (older hubs, mirrors, or the end of a relative redirect for a regular file).
fn final_metadata(url: &str, response: &ureq::Response, from_hub: bool, commit: Option<String>) -> RemoteFile {
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
fn hex_digest(etag: &str, len: usize) -> Option<String> {
    let value = etag.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
    (value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit())).then_some(value)
}

/// Checks size and digest; returns the sha256. Removes what can never become the right file.
fn verify(remote: &RemoteFile, path: &Path, label: &str) -> Result<String> {
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

fn fetch_error(reason: String) -> EngineError {
    EngineError::Fetch(reason)
}

fn http_error(url: &str, code: u16) -> EngineError {
    let hint = match code {
        401 | 403 => " (the repository is gated or private)",
        404 => " (no such repository, revision or file)",
        _ => "",
    };
    fetch_error(format!("{url}: HTTP {code}{hint}"))
}

fn offline(url: &str, e: &ureq::Transport) -> EngineError {
    // ureq's own message repeats the URL; say it once, with the cause.
    let cause = std::error::Error::source(e).map_or_else(|| e.kind().to_string(), |s| format!("{}: {s}", e.kind()));
    fetch_error(format!(
        "cannot reach {url} ({cause}). Downloading a model needs internet; if you are offline, use the \
         bundled demo model, or set HF_ENDPOINT to a reachable mirror"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_read_as_the_hub_writes_them() {
        let sha = "a".repeat(64);
        assert_eq!(hex_digest(&format!("W/\"{sha}\""), 64), Some(sha.clone()));
        assert_eq!(hex_digest(&format!("\"{}\"", "B".repeat(40)), 40), Some("b".repeat(40)));
        assert_eq!(hex_digest("\"d41d8cd98f00b204e9800998ecf8427e-3\"", 40), None);
    }

    #[test]
    fn files_named_by_a_repository_stay_inside_the_model_folder() {
        assert!(is_inside_folder("text.onnx") && is_inside_folder("textual/model.onnx"));
        for outside in ["", "../x.onnx", "a/../../x", "/etc/passwd", "./x/../../y"] {
            assert!(!is_inside_folder(outside), "{outside}");
        }
    }

    #[test]
    fn commits_must_agree_and_match_a_pinned_revision() {
        let file = |commit: Option<&str>| RemoteFile {
            url: String::new(),
            size: None,
            check: None,
            resumable: false,
            commit: commit.map(str::to_string),
            pin: None,
        };
        let pinned = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(agreed_commit(&[file(Some(pinned)), file(None)], pinned).unwrap(), pinned);
        assert_eq!(agreed_commit(&[file(None)], "main").unwrap(), "main");
        assert!(agreed_commit(&[file(Some(pinned)), file(Some(&"f".repeat(40)))], "main").is_err());
        assert!(agreed_commit(&[file(Some(&"f".repeat(40)))], pinned).is_err());
    }

    fn remote(check: Option<Check>, pin: Option<String>) -> RemoteFile {
        RemoteFile { url: String::new(), size: None, check, resumable: false, commit: None, pin }
    }

    #[test]
    fn redirects_may_not_leave_https() {
        let hop = |from: &str, to: &str| next_hop(&url::Url::parse(from).unwrap(), to).map(|u| u.to_string());
        let refused = hop("https://huggingface.co/r/resolve/main/a.onnx", "http://cdn.example/a.onnx").unwrap_err().to_string();
        assert!(refused.contains("refusing to follow a redirect from https to http"), "{refused}");
        assert!(refused.contains("http://cdn.example/a.onnx"), "{refused}");
        assert!(hop("https://hub.example/a", "ftp://hub.example/a").is_err());
        // Relative and protocol-relative redirects keep https; plain http hubs (a local mirror) keep working.
        assert_eq!(hop("https://hub.example/r/a", "/api/a").unwrap(), "https://hub.example/api/a");
        assert_eq!(hop("https://hub.example/a", "//cdn.example/a").unwrap(), "https://cdn.example/a");
        assert_eq!(hop("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/cdn/a").unwrap(), "http://127.0.0.1:8080/cdn/a");
        assert_eq!(hop("http://mirror.lan/a", "https://cdn.example/a").unwrap(), "https://cdn.example/a");
    }

    #[test]
    fn a_body_longer_than_its_limit_is_cut_off() {
        let progress = crate::support::progress::Silent;
        let mut written = Vec::new();
        let endless = std::io::repeat(7);
        assert_eq!(copy_body(endless, &mut written, 100_000, &progress).unwrap(), BodyEnd::OverCap);
        assert!(written.len() <= 100_000, "{}", written.len());
        let mut exact = Vec::new();
        assert_eq!(copy_body(&[7u8; 1000][..], &mut exact, 1000, &progress).unwrap(), BodyEnd::Complete);
        assert_eq!(exact.len(), 1000);
        assert_eq!(copy_body(&[7u8; 1001][..], &mut Vec::new(), 1000, &progress).unwrap(), BodyEnd::OverCap);
    }

    #[test]
    fn a_file_may_hold_its_advertised_size_else_the_cap_for_its_kind() {
        assert_eq!(byte_cap("vision.onnx", Some(1234)).unwrap(), 1234);
        assert_eq!(byte_cap("visual/model.onnx", None).unwrap(), MAX_ONNX_BYTES);
        assert_eq!(byte_cap("tokenizer.json", None).unwrap(), MAX_OTHER_BYTES);
        let huge = byte_cap("tokenizer.json", Some(MAX_OTHER_BYTES + 1)).unwrap_err().to_string();
        assert!(huge.contains("more than clipfind accepts"), "{huge}");
        assert!(byte_cap("text.onnx", Some(MAX_ONNX_BYTES + 1)).is_err());
    }

    #[test]
    fn a_file_nothing_can_verify_is_refused_before_it_is_downloaded() {
        let none = refuse_unverifiable(&remote(None, None), "tokenizer.json").unwrap_err().to_string();
        assert!(none.contains("the hub gave no digest for tokenizer.json and clipfind pins none"), "{none}");
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        assert!(refuse_unverifiable(&remote(None, Some(a.clone())), "x").is_ok());
        assert!(refuse_unverifiable(&remote(Some(Check::GitBlobSha1("c".repeat(40))), None), "x").is_ok());
        assert!(refuse_unverifiable(&remote(Some(Check::Sha256(a.clone())), Some(a.clone())), "x").is_ok());
        let disagree = refuse_unverifiable(&remote(Some(Check::Sha256(a)), Some(b)), "x").unwrap_err().to_string();
        assert!(disagree.contains("clipfind pins"), "{disagree}");
    }

    #[test]
    fn a_download_that_is_not_the_pinned_file_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vision.onnx");
        std::fs::write(&path, b"not the weights").unwrap();
        let right = sha256_file(&path).unwrap();
        assert_eq!(verify(&remote(None, Some(right.clone())), &path, "vision.onnx").unwrap(), right);

        let pin = "0".repeat(64);
        let refused = verify(&remote(None, Some(pin.clone())), &path, "vision.onnx").unwrap_err().to_string();
        assert!(refused.contains(&format!("vision.onnx is not the file clipfind pins: sha256 {right}, expected {pin}")), "{refused}");
        assert!(!path.exists(), "the wrong file is removed");

        // The hub's own digest matching does not excuse a file that is not the pinned one.
        std::fs::write(&path, b"not the weights").unwrap();
        assert!(verify(&remote(Some(Check::Sha256(right)), Some(pin)), &path, "vision.onnx").is_err());
        assert!(!path.exists());
    }
}
