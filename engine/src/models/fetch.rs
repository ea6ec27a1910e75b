//! Downloading a model from the Hugging Face Hub (or a mirror in `HF_ENDPOINT`) at a pinned
//! revision. File metadata is read as `huggingface_hub` reads it (relative redirects followed,
//! `X-Linked-*` taken from an LFS redirect, never a redirect's own `Content-Length`); every file
//! is verified (LFS files by sha256, regular files by git blob sha1, and against the sha256
//! clipfind pins where it pins one; a file nothing can verify is refused); no redirect leads from
//! https down to http; no file grows past its advertised size (or, without one, a cap per kind of
//! file, counted after gzip is decoded); LFS downloads resume with `Range`; the model folder is
//! swapped in whole, so a broken download never looks installed.

use std::{
    fs,
    path::{Path, PathBuf},
};

pub use super::hub::{MAX_ONNX_BYTES, MAX_OTHER_BYTES};
use super::{
    hub::{fetch_error, Hub, RemoteFile},
    Layout, ModelFile, Source, IMMICH_FILES,
};
use crate::{
    clip::{
        immich,
        spec::{ModelSpec, TextSpec, VisionSpec, OPENAI_MEAN, OPENAI_STD, SPEC_FILE, SPEC_FORMAT},
    },
    support::digest::sha256_file,
    support::progress::Progress,
    EngineError, Result,
};

/// Base URL of the Hugging Face Hub, used when no mirror is given.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
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

#[cfg(test)]
mod tests {
    use super::super::hub::*;
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
