//! Model folders: which one to use, which are installed, and the curated models
//! `clipfind models fetch` downloads.

use std::path::{Path, PathBuf};

use super::{clip::{immich, spec::ModelSpec}, EngineError, Result};

pub mod fetch;
mod hub;

/// The model `clipfind models fetch` installs by default.
pub const DEFAULT_FETCH: &str = "vit-b32";
/// The small models trained by this project and committed with it (they work offline), in the
/// order one is chosen when nothing else is installed: the English one first (it tells shapes
/// apart better), then the bilingual one (Chinese and English; `--model clipfind-demo-bilingual`).
pub const DEMO_MODELS: [&str; 2] = ["clipfind-demo", "clipfind-demo-bilingual"];

/// The local name of a downloaded int8 text encoder, when the repository ships one.
pub const INT8_TEXT_FILE: &str = "text-int8.onnx";

/// How a model's Hub repository lays out its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Xenova's transformers.js export of OpenAI CLIP (`onnx/text_model.onnx`, ...): clipfind
    /// writes the description, since the repository has none it can read.
    Xenova,
    /// Immich's (`config.json`, `textual/`, `visual/`): the description is derived from the
    /// repository's own config files, for any open_clip family.
    Immich,
    /// clipfind's own: a `clipfind-model.json` beside the files it names (a model converted
    /// with `models/tools/`, such as Chinese-CLIP, published in a repository or a mirror).
    Clipfind,
}

/// Where `clipfind models fetch` installs a model from: a curated model, or any Hub repository
/// `owner/name` whose layout is found when fetching (clipfind's, else Immich's).
#[derive(Debug, Clone)]
pub struct Source {
    /// Name of the model folder.
    pub name: String,
    /// Hub repository (`owner/name`).
    pub repo: String,
    /// Commit or branch installed by default.
    pub revision: String,
    /// What the model is, for people.
    pub description: String,
    /// The weights' license.
    pub license: String,
    /// The layout, when known before fetching.
    pub layout: Option<Layout>,
    /// The files to download; empty until the layout is known.
    pub files: Vec<ModelFile>,
}

/// One file of a model to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// Path in the repository.
    pub remote: String,
    /// File name in the model folder.
    pub local: String,
    /// The sha256 clipfind pins for it (lowercase hex), when known: a download that differs is
    /// refused. Without one, the hub's own digest must verify the file.
    pub sha256: Option<String>,
}

impl ModelFile {
    /// A file clipfind pins no digest for.
    pub fn unpinned(remote: &str, local: &str) -> ModelFile {
        ModelFile { remote: remote.into(), local: local.into(), sha256: None }
    }
}

impl From<&Downloadable> for Source {
    fn from(model: &Downloadable) -> Source {
        Source {
            name: model.name.into(),
            repo: model.repo.into(),
            revision: model.revision.into(),
            description: model.description.into(),
            license: model.license.into(),
            layout: Some(model.layout),
            files: model.files.iter().map(|(remote, local)| ModelFile { sha256: model.pin(local), ..ModelFile::unpinned(remote, local) }).collect(),
        }
    }
}

impl Downloadable {
    /// The sha256 clipfind pins for the file called `local` in the model folder.
    fn pin(&self, local: &str) -> Option<String> {
        self.sha256.iter().find(|(file, _)| *file == local).map(|(_, digest)| digest.to_ascii_lowercase())
    }
}

impl Source {
    /// A curated model by name, or any repository `owner/name` (installed as `name`).
    pub fn named(name: &str) -> Option<Source> {
        if let Some(curated) = downloadable(name) {
            return Some(curated.into());
        }
        let (owner, repo) = name.split_once('/')?;
        let valid = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        (valid(owner) && valid(repo) && !repo.starts_with('.')).then(|| Source {
            name: repo.to_string(),
            repo: name.to_string(),
            revision: "main".into(),
            description: String::new(),
            license: "see the repository's model card".into(),
            layout: None,
            files: Vec::new(),
        })
    }
}

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
    /// The weights' license, from the model card.
    pub license: &'static str,
    /// The languages queries may be typed in.
    pub languages: &'static str,
    /// A retrieval quality figure and where it comes from.
    pub quality: &'static str,
    /// Download size in MB (the fp32 ONNX files).
    pub size_mb: u32,
    /// How the repository lays out its files.
    pub layout: Layout,
    /// (path in the repository, file name in the model folder)
    pub files: &'static [(&'static str, &'static str)],
    /// (file name in the model folder, sha256) of the files whose content clipfind pins; a file
    /// pinned here is refused when the hub serves anything else, even with a matching hub digest.
    pub sha256: &'static [(&'static str, &'static str)],
}

/// Immich's files, kept at the same paths in the model folder.
pub const IMMICH_FILES: &[(&str, &str)] = &[
    (immich::CONFIG, immich::CONFIG),
    (immich::TEXT_MODEL, immich::TEXT_MODEL),
    (immich::TOKENIZER, immich::TOKENIZER),
    (immich::TOKENIZER_CONFIG, immich::TOKENIZER_CONFIG),
    (immich::VISION_MODEL, immich::VISION_MODEL),
    (immich::PREPROCESS_CONFIG, immich::PREPROCESS_CONFIG),
];

/// An Immich repository at the head of its main branch (the commit served is recorded in the
/// installed description; `--revision` pins one).
const fn immich_model(
    name: &'static str,
    repo: &'static str,
    description: &'static str,
    license: &'static str,
    languages: &'static str,
    quality: &'static str,
    size_mb: u32,
) -> Downloadable {
    Downloadable {
        name,
        repo,
        revision: "main",
        description,
        license,
        languages,
        quality,
        size_mb,
        layout: Layout::Immich,
        files: IMMICH_FILES,
        sha256: UNKNOWN_DIGESTS,
    }
}

/// No pins: the true sha256 of these Hugging Face files has not been recorded in clipfind yet
/// (this project's build machines cannot reach the Hub to compute them, and a guessed digest
/// would refuse the real file). Until they are, each file is verified by the digest the hub
/// serves for it (an LFS file's sha256, a regular file's git blob sha1), and a file the hub
/// gives no digest for is refused.
const UNKNOWN_DIGESTS: &[(&str, &str)] = &[];

/// Every model `clipfind models fetch` can install. Quality: Immich's Crossmodal-3600 average
/// recall (its model table) and open_clip's Flickr30k text-to-image recall@1, where published.
pub const DOWNLOADABLE: &[Downloadable] = &[
    Downloadable {
        name: "vit-b32",
        repo: "Xenova/clip-vit-base-patch32",
        revision: "d15189d7028b43f1d3e65039190477f6af591c2a",
        description: "OpenAI CLIP ViT-B/32, the model Ultralytics' VisualAISearch uses (ONNX export)",
        license: "MIT",
        languages: "English",
        quality: "C3600 en 59.4, Flickr30k R@1 58.8",
        size_mb: 670,
        layout: Layout::Xenova,
        files: &[
            ("onnx/text_model.onnx", "text.onnx"),
            ("onnx/vision_model.onnx", "vision.onnx"),
            ("tokenizer.json", "tokenizer.json"),
            // The repository's dynamically quantised text tower (64.5 MB): `--text-int8` uses it.
            ("onnx/text_model_quantized.onnx", INT8_TEXT_FILE),
        ],
        sha256: UNKNOWN_DIGESTS,
    },
    immich_model(
        "ViT-B-32__laion2b-s34b-b79k",
        "immich-app/ViT-B-32__laion2b-s34b-b79k",
        "open_clip ViT-B/32 trained on LAION-2B: the same cost as OpenAI's, clearly better",
        "MIT",
        "English",
        "C3600 en 68.8, Flickr30k R@1 66.8",
        606,
    ),
    immich_model(
        "ViT-B-32-SigLIP2-256__webli",
        "immich-app/ViT-B-32-SigLIP2-256__webli",
        "Google SigLIP 2 ViT-B/32 at 256 px: the best quality per CPU second (64 image patches)",
        "Apache-2.0",
        "English (trained on multilingual WebLI)",
        "C3600 en 73.2",
        1510,
    ),
    immich_model(
        "ViT-B-16-SigLIP2__webli",
        "immich-app/ViT-B-16-SigLIP2__webli",
        "Google SigLIP 2 ViT-B/16 at 224 px: better still, about 3x the image cost of B/32-256",
        "Apache-2.0",
        "English (trained on multilingual WebLI)",
        "C3600 en 75.2",
        1500,
    ),
    immich_model(
        "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k",
        "immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k",
        "open_clip multilingual: an XLM-RoBERTa text tower with a ViT-B/32 trained on LAION-5B",
        "MIT",
        "about 100 languages, Chinese among them",
        "C3600 zh 72.5",
        1460,
    ),
];

/// The curated model called `name`.
pub fn downloadable(name: &str) -> Option<&'static Downloadable> {
    DOWNLOADABLE.iter().find(|m| m.name == name)
}

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

/// The model to use: the configured one, else the fetched ViT-B/32, else a bundled demo.
pub fn resolve(configured: Option<&Path>, root: &Path) -> Result<(PathBuf, ModelChoice)> {
    if let Some(dir) = configured {
        return Ok((by_name_or_path(dir, root), ModelChoice::Configured));
    }
    let demos = DEMO_MODELS.iter().map(|name| (*name, ModelChoice::Demo));
    for (name, choice) in std::iter::once((DEFAULT_FETCH, ModelChoice::Fetched)).chain(demos) {
        let dir = root.join(name);
        if ModelSpec::is_model_dir(&dir) {
            return Ok((dir, choice));
        }
    }
    Err(EngineError::Model {
        path: root.to_path_buf(),
        reason: "no model installed: run `clipfind models fetch` (needs internet), or pass --model DIR".into(),
    })
}

/// `--model` is a folder, or the name of one in the models folder (`--model ViT-B-32__laion2b-s34b-b79k`).
fn by_name_or_path(configured: &Path, root: &Path) -> PathBuf {
    let named = root.join(configured);
    let is_bare_name = configured.components().count() == 1;
    if is_bare_name && !ModelSpec::is_model_dir(configured) && ModelSpec::is_model_dir(&named) {
        named
    } else {
        configured.to_path_buf()
    }
}

/// An installed model folder.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The model folder.
    pub dir: PathBuf,
    /// Its description, or why that could not be read.
    pub spec: std::result::Result<ModelSpec, String>,
    /// Total size of the files directly in the folder, in bytes.
    pub size_bytes: u64,
}

/// Every model folder under `root` (a `clipfind-model.json` or Immich's layout), by name.
pub fn list(root: &Path) -> Vec<Installed> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut found: Vec<Installed> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|dir| ModelSpec::is_model_dir(dir))
        .map(|dir| Installed {
            spec: ModelSpec::read(&dir).map_err(|e| e.to_string()),
            size_bytes: folder_size(&dir),
            dir,
        })
        .collect();
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}

/// Total size of the files in `dir` and its subfolders (Immich keeps the towers in two).
fn folder_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clip::spec::SPEC_FILE;

    fn fake_model(root: &Path, name: &str) {
        std::fs::create_dir_all(root.join(name)).unwrap();
        std::fs::write(root.join(name).join(SPEC_FILE), "{}").unwrap();
    }

    #[test]
    fn a_bare_model_name_means_that_folder_in_the_models_folder() {
        let root = tempfile::tempdir().unwrap();
        fake_model(root.path(), "ViT-B-32__laion2b-s34b-b79k");
        let (dir, _) = resolve(Some(Path::new("ViT-B-32__laion2b-s34b-b79k")), root.path()).unwrap();
        assert_eq!(dir, root.path().join("ViT-B-32__laion2b-s34b-b79k"));
        assert_eq!(resolve(Some(Path::new("/elsewhere/m")), root.path()).unwrap().0, PathBuf::from("/elsewhere/m"));
    }

    #[test]
    fn every_curated_model_has_a_unique_name_and_a_card() {
        let mut names: Vec<&str> = DOWNLOADABLE.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DOWNLOADABLE.len());
        assert!(DOWNLOADABLE.iter().all(|m| !m.license.is_empty() && !m.languages.is_empty() && !m.quality.is_empty() && m.size_mb > 0));
        assert!(downloadable(DEFAULT_FETCH).is_some());
    }

    #[test]
    fn every_pin_is_a_sha256_of_one_of_the_models_files() {
        for model in DOWNLOADABLE {
            for (local, digest) in model.sha256 {
                assert!(model.files.iter().any(|(_, file)| file == local), "{}: {local} is not one of its files", model.name);
                assert!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()), "{}: {local}", model.name);
            }
            let source = Source::from(model);
            assert!(source.files.iter().all(|f| f.sha256 == model.pin(&f.local)), "{}", model.name);
        }
    }

    #[test]
    fn any_repository_can_be_named_but_not_a_path() {
        let source = Source::named("someone/chinese-clip-vit-b16").unwrap();
        assert_eq!((source.name.as_str(), source.layout), ("chinese-clip-vit-b16", None));
        assert_eq!(Source::named("vit-b32").unwrap().layout, Some(Layout::Xenova));
        for bad in ["no-such-model", "a/../b", "a/.hidden", "/abs", "a/b/c", "a/b c"] {
            assert!(Source::named(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn resolution_prefers_configured_then_fetched_then_demo() {
        let root = tempfile::tempdir().unwrap();
        assert!(resolve(None, root.path()).unwrap_err().to_string().contains("clipfind models fetch"));
        fake_model(root.path(), DEMO_MODELS[1]);
        assert_eq!(resolve(None, root.path()).unwrap(), (root.path().join(DEMO_MODELS[1]), ModelChoice::Demo));
        fake_model(root.path(), DEMO_MODELS[0]);
        assert_eq!(resolve(None, root.path()).unwrap(), (root.path().join(DEMO_MODELS[0]), ModelChoice::Demo));
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
