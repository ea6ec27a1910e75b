//! What the server loads once at start and shares with every request.

use std::sync::Arc;

use crate::{app::search::IndexStatus, cli::Settings};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    settings: Settings,
    index: IndexStatus,
}

impl AppState {
    pub fn new(settings: Settings) -> Self {
        let index = load_index(&settings);
        AppState(Arc::new(Inner { settings, index }))
    }

    pub fn index(&self) -> &IndexStatus {
        &self.0.index
    }

    pub fn log_startup(&self) {
        match &self.0.index {
            IndexStatus::NotLoaded { reason } => tracing::warn!("no index loaded: {reason}"),
        }
        tracing::info!(device = %self.0.settings.device, "encoder device");
    }
}

/// The search engine's index is not built yet in this version: say exactly why nothing can be
/// searched, so the page never pretends.
fn load_index(settings: &Settings) -> IndexStatus {
    let reason = match settings.index_dir() {
        None => "No image folder is configured: start clipfind with --data DIR (or CLIPFIND_DATA)."
            .to_string(),
        Some(dir) => format!("No search index exists at {} yet.", dir.display()),
    };
    IndexStatus::NotLoaded { reason }
}
