//! What the server loads once at start and shares with every request: the searcher (model and
//! index), or the reason there is none.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use clipfind_engine::{
    library::{Library, LibraryConfig},
    searcher::Searcher,
};

use crate::app::types::{IndexInfo, IndexStatus};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    searcher: Option<Arc<Searcher>>,
    status: IndexStatus,
    data_root: PathBuf,
}

impl AppState {
    /// Loads the index and its model; failures become a status the page explains.
    pub fn load(config: &LibraryConfig) -> Self {
        let (searcher, status, data_root) = match open_searcher(config) {
            Ok((searcher, demo_model)) => {
                let stats = searcher.stats();
                let data_root = config.data.clone().unwrap_or_else(|| stats.data_root.clone());
                let status = IndexStatus::Ready(IndexInfo {
                    images: stats.images,
                    model: stats.model.clone(),
                    demo_model,
                    last_indexed: stats.last_indexed,
                });
                (Some(Arc::new(searcher)), status, data_root)
            }
            Err(status) => (None, status, config.data.clone().unwrap_or_default()),
        };
        AppState(Arc::new(Inner { searcher, status, data_root }))
    }

    pub fn searcher(&self) -> Option<&Arc<Searcher>> {
        self.0.searcher.as_ref()
    }

    pub fn status(&self) -> &IndexStatus {
        &self.0.status
    }

    /// The folder image paths are relative to.
    pub fn data_root(&self) -> &Path {
        &self.0.data_root
    }

    pub fn log_startup(&self) {
        match (&self.0.status, &self.0.searcher) {
            (IndexStatus::Ready(info), Some(s)) => {
                let age = chrono_age(info.last_indexed);
                tracing::info!(
                    "index: {} images, model {} on {}, last indexed {age}, data {}",
                    info.images,
                    info.model,
                    s.clip().placement(),
                    self.0.data_root.display()
                );
                let stats = s.stats();
                tracing::info!(
                    "vectors: {} ({} changes since its snapshot replayed), recall@10 {}",
                    stats.factory,
                    stats.replayed_changes,
                    stats.recall.map_or("unmeasured".into(), |r| format!("{r:.3}"))
                );
                if info.demo_model {
                    tracing::warn!("serving with the demo model: it only knows its synthetic shapes world");
                }
            }
            (IndexStatus::NotLoaded { reason, command }, _) => {
                tracing::warn!("no index loaded: {reason}");
                if let Some(c) = command {
                    tracing::warn!("build it with: {c}");
                }
            }
            (IndexStatus::Ready(_), None) => unreachable!("ready implies a searcher"),
        }
    }
}

/// Opens the configured index; says why not as a status the page shows. The flag tells whether
/// the model is the bundled demo.
fn open_searcher(config: &LibraryConfig) -> Result<(Searcher, bool), IndexStatus> {
    let Some(dir) = config.index_dir() else {
        return Err(IndexStatus::NotLoaded {
            reason: "No image folder is configured.".into(),
            command: Some("clipfind index --data DIR && clipfind --data DIR".into()),
        });
    };
    if !Searcher::exists(&dir) {
        return Err(IndexStatus::NotLoaded {
            reason: format!("No search index exists at {} yet.", dir.display()),
            command: Some(index_command(config)),
        });
    }
    let not_loaded = |e: clipfind_engine::EngineError| IndexStatus::NotLoaded { reason: format!("The index could not be loaded: {}", e.chain()), command: None };
    let library = Library::open(config.clone()).map_err(not_loaded)?;
    let demo = library.is_demo_model();
    Ok((library.searcher().map_err(not_loaded)?, demo))
}

/// The command that builds the missing index, quoted for a POSIX shell.
fn index_command(config: &LibraryConfig) -> String {
    let mut words = vec!["clipfind".to_string(), "index".to_string()];
    for (flag, path) in [("--data", &config.data), ("--index", &config.index)] {
        if let Some(path) = path {
            words.push(flag.to_string());
            words.push(path.display().to_string());
        }
    }
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// "3 minutes ago" style age of a unix time.
fn chrono_age(unix: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let secs = (now - unix).max(0);
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        7200..=172_799 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn settings(data: Option<PathBuf>) -> LibraryConfig {
        LibraryConfig { data, ..LibraryConfig::default() }
    }

    #[test]
    fn a_missing_index_says_which_command_builds_it() {
        let d = tempfile::tempdir().unwrap();
        let photos = d.path().join("my photos");
        let state = AppState::load(&settings(Some(photos.clone())));
        assert!(state.searcher().is_none());
        let IndexStatus::NotLoaded { reason, command } = state.status() else { panic!("loaded nothing, yet ready") };
        assert!(reason.contains("No search index exists at") && reason.contains(".clipfind"), "{reason}");
        assert_eq!(command.as_deref(), Some(format!("clipfind index --data '{}'", photos.display()).as_str()));
    }

    #[test]
    fn no_data_folder_is_explained_too() {
        let state = AppState::load(&settings(None));
        let IndexStatus::NotLoaded { reason, .. } = state.status() else { panic!() };
        assert!(reason.contains("No image folder is configured"));
    }
}
