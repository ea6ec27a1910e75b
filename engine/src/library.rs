//! One place that opens a library: which index folder, which model (and why), loaded once for
//! the CLI and the server alike.

use std::path::{Path, PathBuf};

use crate::{
    catalog::Catalog,
    clip::{spec::ModelSpec, Clip, ClipOptions},
    ingest::indexer::{self, IndexOptions, Summary},
    models,
    search::searcher::Searcher,
    store::choice::StoreChoice,
    Device, EngineError, Result,
};

/// Where a library's images, index and model are, and where its encoders run. Built by the
/// caller (from flags and environment variables): the engine reads no environment.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryConfig {
    /// The folders of images (one or more; none when only searching a given index).
    pub data: Vec<PathBuf>,
    /// The index folder [default: `.clipfind` in the first data folder].
    pub index: Option<PathBuf>,
    /// A model folder chosen by the user; else see [`LibraryConfig::use_index_model`].
    pub model: Option<PathBuf>,
    /// Where downloaded models live (`clipfind models fetch`) and the demo model is found.
    pub models_root: PathBuf,
    /// Where the encoders run.
    pub device: Device,
    /// Threads per encoder (0: one per core).
    pub threads: usize,
    /// Without a chosen model, use the one the index was built with (searching); otherwise the
    /// best installed one (indexing, which refuses or rebuilds an index of another model).
    pub use_index_model: bool,
    /// The ONNX Runtime library to load; `None` looks in the usual places.
    pub runtime_library: Option<PathBuf>,
    /// Decode every image at full size (see [`ClipOptions::exact_decode`]).
    pub exact_decode: bool,
    /// Encode queries with the model's int8 text encoder (see [`ClipOptions::text_int8`]).
    pub text_int8: bool,
    /// Encode images with the model's int8 image encoder (see [`ClipOptions::image_int8`]).
    /// Searching an index follows the encoder the index records, whatever this says.
    pub image_int8: bool,
    /// The vector store: given, it is used (and recorded by indexing); `None`: the one the
    /// index records (the embedded FAISS store for a new index).
    pub store: Option<StoreChoice>,
}

impl LibraryConfig {
    /// A configuration for the images in `data`, with everything else at its default.
    pub fn new(data: impl Into<PathBuf>) -> LibraryConfig {
        LibraryConfig { data: vec![data.into()], ..LibraryConfig::default() }
    }

    /// The index folder: the one given, else `.clipfind` inside the first data folder.
    pub fn index_dir(&self) -> Option<PathBuf> {
        self.index.clone().or_else(|| self.data.first().map(|d| d.join(".clipfind")))
    }
}

impl Default for LibraryConfig {
    fn default() -> Self {
        LibraryConfig {
            data: Vec::new(),
            index: None,
            model: None,
            models_root: PathBuf::from("models"),
            device: Device::Auto,
            threads: 0,
            use_index_model: true,
            runtime_library: None,
            exact_decode: false,
            text_int8: false,
            image_int8: false,
            store: None,
        }
    }
}

/// An opened library: its model loaded, its folders known.
pub struct Library {
    config: LibraryConfig,
    clip: Clip,
}

impl Library {
    /// Picks the model (chosen, else the index's own when searching, else the fetched CLIP,
    /// else the demo) and loads it.
    pub fn open(config: LibraryConfig) -> Result<Library> {
        let dir = choose_model(&config)?;
        let options = ClipOptions {
            device: config.device,
            threads: config.threads,
            runtime_library: config.runtime_library.clone(),
            exact_decode: config.exact_decode,
            text_int8: config.text_int8,
            image_int8: image_encoder_of_index(&config, &dir).unwrap_or(config.image_int8),
        };
        let clip = Clip::load(&dir, options)?;
        let library = Library { config, clip };
        if library.is_demo_model() {
            tracing::warn!(
                "using the bundled demo model ({}): it only knows a synthetic world of shapes; \
                 run `clipfind models fetch` for real photos",
                dir.display()
            );
        }
        if library.config.device == Device::Auto {
            tracing::info!("device auto: running on {}", library.clip.placement());
        }
        Ok(library)
    }

    /// Whether the model is the bundled demo (trained on generated shapes, not real photos),
    /// however it was chosen: the page and the log say so.
    pub fn is_demo_model(&self) -> bool {
        models::DEMO_MODELS.contains(&self.clip.spec().name.as_str())
    }

    /// The loaded model.
    pub fn clip(&self) -> &Clip {
        &self.clip
    }

    /// The loaded model, for uses beyond this library's index (evaluation on another set).
    pub fn into_clip(self) -> Clip {
        self.clip
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &LibraryConfig {
        &self.config
    }

    /// The index folder, when one is configured.
    pub fn index_dir(&self) -> Option<PathBuf> {
        self.config.index_dir()
    }

    /// Opens the index for searching.
    pub fn searcher(self) -> Result<Searcher> {
        let dir = self.index_dir().ok_or_else(|| EngineError::Usage("which index? pass the data folder or the index folder".into()))?;
        if !Searcher::exists(&dir) {
            return Err(EngineError::NoIndex(dir));
        }
        Searcher::open_in(&dir, self.clip, self.config.store.clone())
    }

    /// Brings the index up to date with the data folders.
    pub fn index(&self, configure: impl FnOnce(IndexOptions) -> IndexOptions) -> Result<Summary> {
        let Some(first) = self.config.data.first() else { return Err(EngineError::Usage("indexing needs the image folder".into())) };
        let index_dir = self.index_dir().expect("a data folder gives an index folder");
        let options = IndexOptions { data: self.config.data.clone(), store: self.config.store.clone(), ..IndexOptions::new(first.clone(), index_dir) };
        indexer::run(&self.clip, &configure(options))
    }
}

fn choose_model(config: &LibraryConfig) -> Result<PathBuf> {
    let recorded = match (&config.model, config.use_index_model) {
        (None, true) => config.index_dir().and_then(|dir| model_of_index(&dir)),
        _ => None,
    };
    match recorded {
        Some(dir) => Ok(dir),
        None => Ok(models::resolve(config.model.as_deref(), &config.models_root)?.0),
    }
}

/// When searching with the index's model: whether the index was made by its int8 image encoder
/// (so an image query is encoded as the index's images were).
fn image_encoder_of_index(config: &LibraryConfig, model_dir: &Path) -> Option<bool> {
    if !config.use_index_model {
        return None;
    }
    let recorded = Catalog::open_read_only(&config.index_dir()?).ok()?.meta("model_identity").ok()??;
    let spec = ModelSpec::read(model_dir).ok()?;
    let int8 = spec.vision.int8_file.as_ref()?;
    Some(recorded.split(';').any(|entry| entry.split_once('=').is_some_and(|(file, _)| file == int8)))
}

/// The model folder an existing index was built with, when it is still there.
fn model_of_index(index_dir: &Path) -> Option<PathBuf> {
    Catalog::open_read_only(index_dir)
        .ok()?
        .meta("model_dir")
        .ok()
        .flatten()
        .map(PathBuf::from)
        .filter(|d| ModelSpec::is_model_dir(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_defaults_inside_the_data_folder() {
        assert_eq!(LibraryConfig::new("photos").index_dir(), Some(PathBuf::from("photos/.clipfind")));
        let config = LibraryConfig { index: Some("/tmp/i".into()), ..LibraryConfig::new("photos") };
        assert_eq!(config.index_dir(), Some(PathBuf::from("/tmp/i")));
        assert_eq!(LibraryConfig::default().index_dir(), None);
    }

    #[test]
    fn no_model_installed_says_how_to_get_one() {
        let root = tempfile::tempdir().unwrap();
        let config = LibraryConfig { models_root: root.path().into(), ..LibraryConfig::default() };
        let err = Library::open(config).err().unwrap();
        assert!(err.to_string().contains("clipfind models fetch"), "{err}");
    }
}
