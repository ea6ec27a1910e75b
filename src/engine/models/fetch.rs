//! Downloading a model from the Hugging Face Hub (or a mirror in `HF_ENDPOINT`): resumable,
//! size- and sha256-checked, installed atomically so a broken download never looks installed.

use std::{
    fs::{self, File, OpenOptions},
    io::{Read, Seek, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::Downloadable;
use crate::engine::{
    clip::spec::{ModelSpec, TextSpec, VisionSpec, OPENAI_MEAN, OPENAI_STD},
    EngineError, Result,
};

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The hub to download from: `HF_ENDPOINT` (as the Hugging Face tools read it), else the Hub.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_ENDPOINT.into())
}

/// What the server says a file should be.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    size: Option<u64>,
    sha256: Option<String>,
}

fn fetch_error(reason: String) -> EngineError {
    EngineError::Fetch(reason)
}

/// Downloads `model` into `root/NAME`, resuming an earlier partial download. Returns the folder.
pub fn fetch(model: &Downloadable, root: &Path, endpoint: &str, show_progress: bool) -> Result<PathBuf> {
    let dest = root.join(model.name);
    let partial = root.join(format!(".{}.partial", model.name));
    fs::create_dir_all(&partial).map_err(|source| EngineError::Io { path: partial.clone(), source })?;
    let builder = || ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(15)).timeout_read(Duration::from_secs(60));
    // The probe must see the Hub's redirect (it carries size and sha256); downloads follow it.
    let agent = builder().redirects(0).build();
    let follow = builder().build();
    let mut sha256 = std::collections::BTreeMap::new();
    for (remote, local) in model.files {
        let url = format!("{}/{}/resolve/main/{remote}", endpoint.trim_end_matches('/'), model.repo);
        let expected = probe(&agent, &url)?;
        let path = partial.join(local);
        let digest = download(&follow, &url, &path, &expected, show_progress, local)?;
        sha256.insert(local.to_string(), digest);
    }
    let spec = ModelSpec {
        format: 1,
        name: model.name.into(),
        description: model.description.into(),
        source: format!("{endpoint}/{}", model.repo),
        license: model.license.into(),
        embedding_dim: 512,
        image_size: 224,
        image_mean: OPENAI_MEAN,
        image_std: OPENAI_STD,
        context_length: 77,
        text: TextSpec { file: "text.onnx".into(), input_ids: "input_ids".into(), attention_mask: None, output: "text_embeds".into() },
        vision: VisionSpec { file: "vision.onnx".into(), input: "pixel_values".into(), output: "image_embeds".into() },
        tokenizer: "tokenizer.json".into(),
        sha256,
    };
    spec.write(&partial)?;
    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(|source| EngineError::Io { path: dest.clone(), source })?;
    }
    fs::rename(&partial, &dest).map_err(|source| EngineError::Io { path: dest.clone(), source })?;
    Ok(dest)
}

/// Asks for the file's size and sha256 without downloading it. The Hub answers LFS files with a
/// redirect that carries `X-Linked-Size` and `X-Linked-Etag` (the sha256).
fn probe(agent: &ureq::Agent, url: &str) -> Result<Expected> {
    let response = match agent.head(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) if (300..400).contains(&code) => r,
        Err(ureq::Error::Status(code, _)) => return Err(fetch_error(format!("{url}: HTTP {code}"))),
        Err(ureq::Error::Transport(t)) => return Err(offline(url, &t)),
    };
    let header = |name: &str| response.header(name).map(str::to_string);
    let size = header("x-linked-size").or_else(|| header("content-length")).and_then(|v| v.parse().ok());
    let sha256 = header("x-linked-etag").map(|e| e.trim_start_matches("W/").trim_matches('"').to_ascii_lowercase())
        .filter(|e| e.len() == 64 && e.bytes().all(|b| b.is_ascii_hexdigit()));
    Ok(Expected { size, sha256 })
}

fn offline(url: &str, e: &ureq::Transport) -> EngineError {
    fetch_error(format!(
        "cannot reach {url} ({e}). Downloading a model needs internet; if you are offline, use the \
         bundled demo model, or set HF_ENDPOINT to a reachable mirror"
    ))
}

/// Downloads to `path`, continuing from what is there, and checks size and sha256.
fn download(agent: &ureq::Agent, url: &str, path: &Path, expected: &Expected, progress: bool, label: &str) -> Result<String> {
    let io = |source| EngineError::Io { path: path.to_path_buf(), source };
    let mut have = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if expected.size.is_some_and(|size| have > size) {
        have = 0; // longer than the file: not a prefix of it
    }
    let complete = expected.size == Some(have) && have > 0;
    if !complete {
        let mut request = agent.get(url);
        if have > 0 {
            request = request.set("Range", &format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => return Err(fetch_error(format!("{url}: HTTP {code}"))),
            Err(ureq::Error::Transport(t)) => return Err(offline(url, &t)),
        };
        let resumed = response.status() == 206;
        if !resumed {
            have = 0;
        }
        let mut file = OpenOptions::new().create(true).write(true).truncate(!resumed).open(path).map_err(io)?;
        file.seek(std::io::SeekFrom::Start(have)).map_err(io)?;
        let bar = progress_bar(progress, label, expected.size, have);
        let mut body = response.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = body.read(&mut buf).map_err(|e| fetch_error(format!("{url}: download interrupted ({e}); run the command again to resume")))?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(io)?;
            bar.inc(n as u64);
        }
        file.sync_all().map_err(io)?;
        bar.finish_and_clear();
    }
    let size = fs::metadata(path).map_err(io)?.len();
    if let Some(want) = expected.size.filter(|want| *want != size) {
        return Err(fetch_error(format!("{label}: got {size} bytes, expected {want}; run the command again to resume")));
    }
    let digest = sha256_file(path)?;
    if let Some(want) = expected.sha256.as_ref().filter(|want| **want != digest) {
        fs::remove_file(path).map_err(io)?;
        return Err(fetch_error(format!("{label} is corrupt: sha256 {digest}, expected {want}; removed it, run the command again")));
    }
    Ok(digest)
}

fn progress_bar(show: bool, label: &str, total: Option<u64>, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = total.map_or_else(ProgressBar::no_length, ProgressBar::new);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar.set_position(done);
    bar
}

/// sha256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io = |source| EngineError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io)?;
    Ok(format!("{:x}", hasher.finalize()))
}
