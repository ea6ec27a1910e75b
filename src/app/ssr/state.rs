//! What the server shares with every request: the searcher (model and index), or the reason
//! there is none. When another process changes the index (`clipfind index`), the server opens it
//! again beside the one in use and swaps it in: a request works on the index it started with,
//! new requests get the new one, and nothing fails during the swap.

use std::{
    num::NonZeroUsize,
    sync::{atomic::AtomicU64, Arc, Mutex, RwLock},
    time::Duration,
};

use clipfind_engine::{
    ingest::roots::Roots,
    ingest::run_status,
    library::{Library, LibraryConfig},
    search::searcher::{IndexStats, Searcher},
    search::text_batcher::Ticket,
};

use lru::LruCache;

use crate::app::types::{IndexInfo, IndexStatus, Indexing, LiveStatus, SkippedFile, WordsInfo};

/// How often the server checks whether the index changed (one small catalog read) and reads
/// the indexer's progress.
const CHECK_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    current: RwLock<Arc<Loaded>>,
    config: LibraryConfig,
    /// What `/api/live` streams: the index's size and version, and indexing progress.
    live: tokio::sync::watch::Sender<LiveStatus>,
    /// The newest query number of each recent page (live typing supersedes older queries).
    pages: Mutex<LruCache<String, Arc<AtomicU64>>>,
    /// Turns to read an upload: at most a few uploads' bytes are in memory at once.
    uploads: Arc<tokio::sync::Semaphore>,
}

/// Pages whose newest query is remembered.
const PAGES: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

/// One loaded state of the index: what a request works with from start to end.
pub struct Loaded {
    searcher: Option<Arc<Searcher>>,
    status: IndexStatus,
    roots: Roots,
    /// The index version this state was loaded from (also when loading failed: a broken index
    /// is not loaded again until it changes).
    version: Option<String>,
}

impl Loaded {
    fn ready(searcher: Searcher, demo_model: bool, config: &LibraryConfig) -> Loaded {
        let stats = searcher.stats();
        let roots = roots_of(config, stats);
        let status = IndexStatus::Ready(IndexInfo {
            images: stats.images,
            model: stats.model.clone(),
            demo_model,
            last_indexed: stats.last_indexed,
            words: WordsInfo { looked: stats.words.looked, with_words: stats.words.with_words, waiting: stats.words.waiting },
        });
        let version = Some(searcher.opened_version().to_string());
        Loaded { searcher: Some(Arc::new(searcher)), status, roots, version }
    }

    pub fn searcher(&self) -> Option<&Arc<Searcher>> {
        self.searcher.as_ref()
    }

    pub fn status(&self) -> &IndexStatus {
        &self.status
    }

    /// The folders the catalog's paths name files in.
    pub fn roots(&self) -> &Roots {
        &self.roots
    }
}

impl AppState {
    /// Loads the index and its model; failures become a status the page explains.
    pub fn load(config: &LibraryConfig) -> Self {
        let loaded = load(config);
        let (live, _) = tokio::sync::watch::channel(LiveStatus::default());
        let pages = Mutex::new(LruCache::new(PAGES));
        let uploads = Arc::new(tokio::sync::Semaphore::new(crate::app::types::MAX_CONCURRENT_UPLOADS));
        let state = AppState(Arc::new(Shared { current: RwLock::new(Arc::new(loaded)), config: config.clone(), live, pages, uploads }));
        state.publish_live();
        state
    }

    /// The index as loaded now; hold it for the whole of a request.
    pub fn current(&self) -> Arc<Loaded> {
        self.0.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn searcher(&self) -> Option<Arc<Searcher>> {
        self.current().searcher.clone()
    }

    pub fn status(&self) -> IndexStatus {
        self.current().status.clone()
    }

    /// The indexing run in progress on this library, if any; with the skipped files or not.
    pub fn indexing(&self, with_files: bool) -> Option<Indexing> {
        let status = run_status::read(&self.0.config.index_dir()?)?;
        // A run that finds nothing new only scans, for a second or so: not worth a flash in
        // the page every time watch mode looks.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if status.phase == "scanning" && now - status.started_at < 2 {
            return None;
        }
        let files = if with_files { status.skipped_files } else { Vec::new() };
        Some(Indexing {
            phase: status.phase,
            done: status.done,
            total: status.total,
            per_second: status.per_second,
            seconds_left: status.seconds_left,
            folder: status.folder,
            skipped: status.skipped,
            skipped_files: files.into_iter().map(|f| SkippedFile { path: f.path, reason: f.reason }).collect(),
        })
    }

    /// A place in line for a query from `page` (None: a client that did not name its page):
    /// its older queries still waiting for the encoder are then dropped.
    pub fn ticket(&self, page: Option<&str>) -> Option<Ticket> {
        let page = page?;
        let newest = self.0.pages.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(page.to_string(), Default::default).clone();
        Some(Ticket::next(&newest))
    }

    /// Waits for a turn to read an upload; the turn ends when the permit is dropped.
    pub async fn upload_turn(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.0.uploads.clone().acquire_owned().await.expect("the upload semaphore is never closed")
    }

    /// Live status updates, for `/api/live`.
    pub fn subscribe_live(&self) -> tokio::sync::watch::Receiver<LiveStatus> {
        self.0.live.subscribe()
    }

    /// Sends subscribers the current live status when it changed.
    fn publish_live(&self) {
        let current = self.current();
        let images = match &current.status {
            IndexStatus::Ready(info) => info.images,
            IndexStatus::NotLoaded { .. } => 0,
        };
        let next = LiveStatus { images, version: current.version.clone().unwrap_or_default(), indexing: self.indexing(false) };
        self.0.live.send_if_modified(|live| {
            let changed = *live != next;
            *live = next;
            changed
        });
    }

    /// Checks twice a second whether the index changed underneath, and swaps in the new one;
    /// publishes indexing progress as it goes.
    pub fn follow_index(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECK_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let state = state.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    state.reload_if_changed();
                    state.publish_live();
                })
                .await;
            }
        });
    }

    /// Opens the index again if its version moved on; the old one serves until the new one is
    /// ready, and stays if the new one cannot be opened (tried again when the index next changes).
    pub fn reload_if_changed(&self) -> bool {
        let Some(dir) = self.0.config.index_dir() else { return false };
        let current = self.current();
        let now = Searcher::version(&dir).ok();
        if now == current.version {
            return false;
        }
        let next = match (&current.searcher, &current.status) {
            (Some(searcher), IndexStatus::Ready(info)) => match searcher.reopen() {
                Ok(reopened) => Loaded::ready(reopened, info.demo_model, &self.0.config),
                Err(e) => {
                    // Keep serving the index in use; try again when the index changes again.
                    tracing::warn!("the index changed but cannot be opened: {}; still serving the previous one", e.chain());
                    Loaded { searcher: Some(searcher.clone()), status: current.status.clone(), roots: current.roots.clone(), version: now }
                }
            },
            _ => load(&self.0.config),
        };
        if let IndexStatus::Ready(info) = &next.status {
            tracing::info!("index changed: now {} images", info.images);
        }
        *self.0.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        true
    }

    pub fn log_startup(&self) {
        let current = self.current();
        match (&current.status, &current.searcher) {
            (IndexStatus::Ready(info), Some(s)) => {
                let age = chrono_age(info.last_indexed);
                tracing::info!(
                    "index: {} images, model {} on {}, last indexed {age}, data {}",
                    info.images,
                    info.model,
                    s.clip().placement(),
                    current.roots.folders().iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>().join(", ")
                );
                let stats = s.stats();
                // Only a snapshot with logged changes has something to say here (Milvus keeps none).
                let replayed = match stats.replayed_changes {
                    0 => String::new(),
                    n => format!(" ({n} changes since its snapshot replayed)"),
                };
                tracing::info!(
                    "vectors: {}{replayed}, recall@10 {}",
                    stats.factory,
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

fn load(config: &LibraryConfig) -> Loaded {
    let version = config.index_dir().and_then(|dir| Searcher::version(&dir).ok());
    match open_searcher(config) {
        Ok((searcher, demo_model)) => Loaded::ready(searcher, demo_model, config),
        Err(status) => Loaded { searcher: None, status, roots: Roots::default(), version },
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
            reason: "No search index exists for this library yet.".into(),
            command: Some(index_command(config)),
        });
    }
    // The reason names files and folders: the server's log gets it, visitors do not.
    let not_loaded = |e: clipfind_engine::EngineError| {
        tracing::error!("the index could not be loaded: {}", e.chain());
        IndexStatus::NotLoaded { reason: "The index could not be loaded; the server's log says why.".into(), command: None }
    };
    let library = Library::open(config.clone()).map_err(not_loaded)?;
    let demo = library.is_demo_model();
    Ok((library.searcher().map_err(not_loaded)?, demo))
}

/// The command that builds the missing index, quoted for a POSIX shell. Folders are named as
/// the server was given them when relative; an absolute one by its last part after `…/` (a
/// reply never holds an absolute path; the server's log has the whole command).
fn index_command(config: &LibraryConfig) -> String {
    let mut words = vec!["clipfind".to_string(), "index".to_string()];
    let folders = config.data.iter().map(|d| ("--data", d)).chain(config.index.iter().map(|i| ("--index", i)));
    for (flag, path) in folders {
        words.push(flag.to_string());
        words.push(match path.is_absolute() {
            true => format!("…/{}", path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())),
            false => path.display().to_string(),
        });
    }
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// The folders paths are relative to: the one the server was given, when the index has one (a
/// library moved since it was indexed), else the ones the index recorded.
fn roots_of(config: &LibraryConfig, stats: &IndexStats) -> Roots {
    match config.data.as_slice() {
        [one] if !stats.roots.is_several() => Roots::single(one.canonicalize().unwrap_or_else(|_| one.clone())),
        _ => stats.roots.clone(),
    }
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
    use std::path::PathBuf;
    fn settings(data: Option<PathBuf>) -> LibraryConfig {
        LibraryConfig { data: data.into_iter().collect(), ..LibraryConfig::default() }
    }

    #[test]
    fn a_missing_index_says_which_command_builds_it() {
        let d = tempfile::tempdir().unwrap();
        let photos = d.path().join("my photos");
        let state = AppState::load(&settings(Some(photos.clone())));
        assert!(state.searcher().is_none());
        let IndexStatus::NotLoaded { reason, command } = state.status() else { panic!("loaded nothing, yet ready") };
        assert_eq!(reason, "No search index exists for this library yet.");
        assert_eq!(command.as_deref(), Some("clipfind index --data '…/my photos'"));
        let state = AppState::load(&settings(Some(PathBuf::from("my photos"))));
        let IndexStatus::NotLoaded { command, .. } = state.status() else { panic!("loaded nothing, yet ready") };
        assert_eq!(command.as_deref(), Some("clipfind index --data 'my photos'"));
    }

    #[test]
    fn no_data_folder_is_explained_too() {
        let state = AppState::load(&settings(None));
        let IndexStatus::NotLoaded { reason, .. } = state.status() else { panic!() };
        assert!(reason.contains("No image folder is configured"));
    }
}
