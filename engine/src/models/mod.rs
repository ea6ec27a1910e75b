//! Model folders: which one to use, which are installed, and fetching the real CLIP ViT-B/32.

use std::path::{Path, PathBuf};

use super::{clip::spec::{ModelSpec, SPEC_FILE}, EngineError, Result};

pub mod fetch;

/// The model `clipfind models fetch` installs by default.
pub const DEFAULT_FETCH: &str = "vit-b32";
/// The small model trained by this project and committed with it (works offline).
pub const DEMO_MODEL: &str = "clipfind-demo";

/// The local name of a downloaded int8 text encoder, when the repository ships one.
pub const INT8_TEXT_FILE: &str = "text-int8.onnx";

/// A model that can be downloaded.
#[derive(Debug, Clone, Copy)]
pub struct Downloadable {
    /// Name of the model, and of its folder in the models folder.
    pub name: &'static str,
    /// Hugging Face Hub repository it is downloaded from (`owner/name`).
    pub repo: &'static str,
    /// The commit installed by default, so an upstream change never silently changes a user's
    /// model (and with it their index's identity).
    pub revision: &'static str,
    /// What the model is, for people.
    pub description: &'static str,
    /// The weights' license.
    pub license: &'static str,
    /// (path in the repository, file name in the model folder)
    pub files: &'static [(&'static str, &'static str)],
}

/// Every model `clipfind models fetch` can install.
pub const DOWNLOADABLE: &[Downloadable] = &[Downloadable {
    name: "vit-b32",
    repo: "Xenova/clip-vit-base-patch32",
    revision: "d15189d7028b43f1d3e65039190477f6af591c2a",
    description: "OpenAI CLIP ViT-B/32, the model Ultralytics' VisualAISearch uses (ONNX export)",
    license: "MIT (OpenAI CLIP)",
    files: &[
        ("onnx/text_model.onnx", "text.onnx"),
        ("onnx/vision_model.onnx", "vision.onnx"),
        ("tokenizer.json", "tokenizer.json"),
        // The repository's dynamically quantised text tower (64.5 MB): `--text-int8` uses it.
        ("onnx/text_model_quantized.onnx", INT8_TEXT_FILE),
    ],
}];

/// Why this model was chosen, so the user is told when it is not the real CLIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    /// `--model` or `CLIPFIND_MODEL`.
    Configured,
    /// The fetched ViT-B/32.
    Fetched,
    /// The small demo model: semantic only on its synthetic world.
    Demo,
}

/// The model to use: the configured one, else the fetched ViT-B/32, else the bundled demo.
pub fn resolve(configured: Option<&Path>, root: &Path) -> Result<(PathBuf, ModelChoice)> {
    if let Some(dir) = configured {
        return Ok((dir.to_path_buf(), ModelChoice::Configured));
    }
    for (name, choice) in [(DEFAULT_FETCH, ModelChoice::Fetched), (DEMO_MODEL, ModelChoice::Demo)] {
        let dir = root.join(name);
        if dir.join(SPEC_FILE).is_file() {
            return Ok((dir, choice));
        }
    }
    Err(EngineError::Model {
        path: root.to_path_buf(),
        reason: "no model installed: run `clipfind models fetch` (needs internet), or pass --model DIR".into(),
    })
}

/// An installed model folder.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The model folder.
    pub dir: PathBuf,
    /// Its `clipfind-model.json`, or why that could not be read.
    pub spec: std::result::Result<ModelSpec, String>,
    /// Total size of the files directly in the folder, in bytes.
    pub size_bytes: u64,
}

/// Every folder under `root` that holds a `clipfind-model.json`, by name.
pub fn list(root: &Path) -> Vec<Installed> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut found: Vec<Installed> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|dir| dir.join(SPEC_FILE).is_file())
        .map(|dir| Installed {
            spec: ModelSpec::read(&dir).map_err(|e| e.to_string()),
            size_bytes: folder_size(&dir),
            dir,
        })
        .collect();
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}

fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_model(root: &Path, name: &str) {
        std::fs::create_dir_all(root.join(name)).unwrap();
        std::fs::write(root.join(name).join(SPEC_FILE), "{}").unwrap();
    }

    #[test]
    fn resolution_prefers_configured_then_fetched_then_demo() {
        let root = tempfile::tempdir().unwrap();
        assert!(resolve(None, root.path()).unwrap_err().to_string().contains("clipfind models fetch"));
        fake_model(root.path(), DEMO_MODEL);
        assert_eq!(resolve(None, root.path()).unwrap().1, ModelChoice::Demo);
        fake_model(root.path(), DEFAULT_FETCH);
        assert_eq!(resolve(None, root.path()).unwrap(), (root.path().join(DEFAULT_FETCH), ModelChoice::Fetched));
        let mine = Path::new("/my/model");
        assert_eq!(resolve(Some(mine), root.path()).unwrap(), (mine.to_path_buf(), ModelChoice::Configured));
    }

    #[test]
    fn list_reports_broken_specs_instead_of_hiding_them() {
        let root = tempfile::tempdir().unwrap();
        fake_model(root.path(), "broken");
        std::fs::create_dir_all(root.path().join("not-a-model")).unwrap();
        let found = list(root.path());
        assert_eq!(found.len(), 1);
        assert!(found[0].spec.is_err());
    }
}
