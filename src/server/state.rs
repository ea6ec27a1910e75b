//! What the server loads once at start and shares with every request: the searcher (model and
//! index), or the reason there is none.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    app::types::{IndexInfo, IndexStatus},
    cli::Settings,
    engine::{models::DEMO_MODEL, searcher::Searcher},
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    searcher: Option<Arc<Searcher>>,
    status: IndexStatus,
    data_root: PathBuf,
}

impl AppState {
    /// Loads the index and its model; failures become a status the page explains.
    pub fn load(settings: &Settings) -> Self {
        let index_dir = settings.index_dir();
        let loaded = match &index_dir {
            None => Err(IndexStatus::NotLoaded {
                reason: "No image folder is configured.".into(),
                command: Some("clipfind index --data DIR && clipfind --data DIR".into()),
            }),
            Some(dir) if !Searcher::exists(dir) => Err(IndexStatus::NotLoaded {
                reason: format!("No search index exists at {} yet.", dir.display()),
                command: Some(index_command(settings)),
            }),
            Some(dir) => settings
                .load_model_for(Some(dir))
                .and_then(|clip| Ok(Searcher::open(dir, clip)?))
                .map_err(|e| IndexStatus::NotLoaded { reason: format!("The index could not be loaded: {e:#}"), command: None }),
        };
        let (searcher, status, data_root) = match loaded {
            Ok(searcher) => {
                let stats = searcher.stats();
                let data_root = settings.data.clone().unwrap_or_else(|| stats.data_root.clone());
                let status = IndexStatus::Ready(IndexInfo {
                    images: stats.images,
                    model: stats.model.clone(),
                    demo_model: searcher.clip().dir().file_name().is_some_and(|n| n == DEMO_MODEL),
                    last_indexed: stats.last_indexed,
                });
                (Some(Arc::new(searcher)), status, data_root)
            }
            Err(status) => (None, status, settings.data.clone().unwrap_or_default()),
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
                if s.stats().rebuilt_from_catalog {
                    tracing::warn!("the vector file was stale (interrupted indexing?); rebuilt from the catalog in memory");
                }
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

fn index_command(settings: &Settings) -> String {
    let mut c = String::from("clipfind index");
    if let Some(d) = &settings.data {
        c.push_str(&format!(" --data {}", shell_word(d)));
    }
    if let Some(i) = &settings.index {
        c.push_str(&format!(" --index {}", shell_word(i)));
    }
    c
}

fn shell_word(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) { s } else { format!("'{}'", s.replace('\'', "'\\''")) }
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
    use crate::engine::Device;

    fn settings(data: Option<PathBuf>) -> Settings {
        Settings { data, index: None, model: None, device: Device::Cpu, threads: 0 }
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
