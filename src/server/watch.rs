//! Watch mode (`clipfind serve --watch`): the data folder is watched (inotify through `notify`)
//! and what changes in it is indexed in the background, so that new, changed, moved and deleted
//! photos become searchable without a restart (the server swaps in the new index by itself, see
//! `AppState::follow_index`).
//!
//! - Debounced: indexing starts once the folder has been quiet for a second (a copy of 500
//!   photos is one run, not 500), and files modified in the last two seconds are left for the
//!   next run, so a copy still being written is never read half-way.
//! - A separate `clipfind index` process at low priority (nice 10) does the work: searches keep
//!   their CPU, and the index's writer lock keeps it the only writer. It dies with the server.
//! - Where the folder cannot be watched (the inotify watch limit, a file system without change
//!   events), it says so and rescans every minute instead: cheap, since unchanged folders are
//!   not read file by file.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    time::{Duration, Instant},
};

use clipfind_engine::library::LibraryConfig;
use notify::{RecursiveMode, Watcher};

/// Quiet time after the last change before indexing starts.
const QUIET: Duration = Duration::from_secs(1);
/// Files modified more recently than this are left for the next run.
const SETTLE: Duration = Duration::from_secs(2);
/// Longest wait for quiet while changes keep coming (a long copy still gets indexed as it goes).
const MOST_WAIT: Duration = Duration::from_secs(30);
/// How often to rescan where the folder cannot be watched.
const RESCAN_EVERY: Duration = Duration::from_secs(60);

/// Starts watching `config`'s data folders on a thread of its own.
pub fn start(config: &LibraryConfig) -> anyhow::Result<()> {
    anyhow::ensure!(!config.data.is_empty(), "--watch needs the image folder (--data)");
    let data = config.data.clone();
    let index_dir = config.index_dir().expect("a data folder gives an index folder");
    let args = index_args(config);
    std::thread::Builder::new().name("clipfind-watch".into()).spawn(move || watch(&data, &index_dir, &args))?;
    Ok(())
}

/// The `clipfind index` arguments for this library.
fn index_args(config: &LibraryConfig) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["index", "--quiet", "--json", "--settle"].map(OsString::from).to_vec();
    args.push(SETTLE.as_secs_f64().to_string().into());
    let folders = config.data.iter().map(|d| ("--data", d));
    let others = [("--index", &config.index), ("--model", &config.model), ("--ort-library", &config.runtime_library)];
    for (flag, value) in folders.chain(others.into_iter().filter_map(|(flag, value)| value.as_ref().map(|v| (flag, v)))) {
        args.extend([OsString::from(flag), value.clone().into_os_string()]);
    }
    args.extend([OsString::from("--models-dir"), config.models_root.clone().into_os_string()]);
    args.extend([OsString::from("--device"), config.device.to_string().into()]);
    if config.exact_decode {
        args.push("--exact-decode".into());
    }
    args
}

fn watch(data: &[PathBuf], index_dir: &Path, args: &[OsString]) {
    let (tx, changes) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = tx.send(event);
    });
    let mut watching = true;
    for folder in data {
        match watcher.as_mut().map_err(|e| e.to_string()).and_then(|w| w.watch(folder, RecursiveMode::Recursive).map_err(|e| e.to_string())) {
            Ok(()) => tracing::info!("watching {} for new, changed and deleted photos", folder.display()),
            Err(e) => {
                tracing::warn!("cannot watch {} ({e}); rescanning every {} s instead", folder.display(), RESCAN_EVERY.as_secs());
                watching = false;
            }
        }
    }
    // A deadline, not a timeout: events about the index folder itself (every run and every
    // reload check makes some) must not keep postponing a run that is due.
    let next_run = |after: Option<Duration>| match (after, watching) {
        (Some(after), _) => Some(Instant::now() + after),
        (None, true) => None,
        (None, false) => Some(Instant::now() + RESCAN_EVERY),
    };
    // Catch up with what changed while the server was not running.
    let mut due = next_run(index(args));
    loop {
        let wait = due.map_or(Duration::from_secs(3600), |at| at.saturating_duration_since(Instant::now()));
        match changes.recv_timeout(wait) {
            Ok(Ok(event)) if !concerns_photos(&event, data, index_dir) => continue,
            Ok(event) => {
                tracing::debug!("change: {event:?}");
                wait_for_quiet(&changes, data, index_dir);
            }
            Err(RecvTimeoutError::Timeout) if due.is_none() => continue,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        due = next_run(index(args));
    }
}

/// Whether a change is about the photos: not in the index folder (which may be inside a data
/// folder), not hidden below a data folder.
fn concerns_photos(event: &notify::Event, data: &[PathBuf], index_dir: &Path) -> bool {
    let below = |p: &Path| data.iter().find_map(|d| p.strip_prefix(d).ok()).unwrap_or(p).to_path_buf();
    let hidden = |p: &Path| below(p).components().any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
    event.paths.iter().any(|p| !p.starts_with(index_dir) && !hidden(p))
}

/// Returns once no change has come for `QUIET`, or after `MOST_WAIT`.
fn wait_for_quiet(changes: &mpsc::Receiver<notify::Result<notify::Event>>, data: &[PathBuf], index_dir: &Path) {
    let started = Instant::now();
    let mut last = Instant::now();
    while started.elapsed() < MOST_WAIT {
        match changes.recv_timeout(QUIET.saturating_sub(last.elapsed())) {
            Ok(Ok(event)) if concerns_photos(&event, data, index_dir) => last = Instant::now(),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Runs `clipfind index` once at low priority; returns when to run again because files were
/// too fresh to read (or another writer held the index).
fn index(args: &[OsString]) -> Option<Duration> {
    let started = Instant::now();
    let Ok(exe) = std::env::current_exe() else { return None };
    let mut command = Command::new(exe);
    command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    low_priority_child(&mut command);
    let out = match command.output() {
        Ok(out) => out,
        Err(e) => {
            tracing::warn!("cannot start the indexer: {e}");
            return Some(RESCAN_EVERY);
        }
    };
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr);
        tracing::warn!("indexing failed: {}", message.trim());
        return Some(if message.contains("is indexing") { SETTLE } else { RESCAN_EVERY });
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let count = |key: &str| summary[key].as_u64().unwrap_or(0);
    let changed = count("new") + count("changed") + count("removed") + count("renamed") + count("duplicates");
    if changed > 0 {
        tracing::info!(
            "indexed in {:.1} s: {} new, {} changed, {} removed, {} renamed; {} images",
            started.elapsed().as_secs_f64(),
            count("new"),
            count("changed"),
            count("removed"),
            count("renamed"),
            count("total")
        );
    }
    tracing::debug!("index run: {changed} changes, {} files too fresh, {:.1} s", count("unsettled"), started.elapsed().as_secs_f64());
    (count("unsettled") > 0).then_some(SETTLE)
}

/// Nice 10, and killed with its parent: the server's searches come first, and a server that
/// dies leaves no indexer behind (the next start resumes from the last commit).
fn low_priority_child(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
