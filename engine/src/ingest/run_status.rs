//! What a running indexer is doing, published in the index folder (`indexing.json`) so that a
//! server (or anything else) can show it: phase, images done of total, rate, time left, the
//! folder being read, and the files skipped so far with why. The file is replaced atomically a
//! few times a second at most and removed when the run ends; one left by a killed run names a
//! process that is gone, and readers ignore it.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};



/// A file that was not indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Skipped {
    /// The file, relative to the data folder and `/`-separated (a scan problem may give a full path).
    pub path: String,
    /// Why, as a sentence for the user.
    pub reason: String,
}

/// The file's name inside the index folder.
pub const FILE: &str = "indexing.json";
/// Most skipped files listed (the count goes on).
const MOST_LISTED: usize = 200;
/// Least time between two writes of the file.
const EVERY: Duration = Duration::from_millis(250);

/// A snapshot of a run's progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// The indexing process.
    pub pid: u32,
    /// `scanning`, `embedding` or `indexing vectors`.
    pub phase: String,
    /// Files read (embedded, recognised or skipped) in the embedding phase.
    pub done: u64,
    /// Files the embedding phase has to read.
    pub total: u64,
    /// Files read per second so far.
    pub per_second: f64,
    /// Estimated seconds until the embedding phase ends.
    pub seconds_left: Option<f64>,
    /// The folder of the file read last (as the catalog names it).
    pub folder: String,
    /// Files skipped by this run so far.
    pub skipped: u64,
    /// The first of them, with why.
    pub skipped_files: Vec<Skipped>,
    /// Unix seconds when the run started.
    pub started_at: i64,
}

/// Keeps a run's status file up to date; removes it when dropped.
pub struct StatusFile {
    path: PathBuf,
    status: Mutex<(RunStatus, Option<Instant>)>,
    phase_started: Mutex<Instant>,
}

impl StatusFile {
    /// Starts publishing the status of this process's run in `index_dir`.
    pub fn start(index_dir: &Path) -> StatusFile {
        let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let status = RunStatus { pid: std::process::id(), phase: "scanning".into(), started_at, ..RunStatus::default() };
        let file = StatusFile { path: index_dir.join(FILE), status: Mutex::new((status, None)), phase_started: Mutex::new(Instant::now()) };
        file.publish(true);
        file
    }

    /// A new phase, with `total` files to read in it.
    pub fn phase(&self, phase: &str, total: u64) {
        *self.phase_started.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.update(true, |s| {
            s.phase = phase.to_string();
            (s.done, s.total, s.per_second, s.seconds_left) = (0, total, 0.0, None);
        });
    }

    /// One more file read, in `folder`; `skipped` says why it was not indexed, if it was not.
    pub fn advance(&self, path: &str, skipped: Option<String>) {
        let elapsed = self.phase_started.lock().unwrap_or_else(|p| p.into_inner()).elapsed().as_secs_f64();
        self.update(skipped.is_some(), |s| {
            s.done += 1;
            s.folder = path.rsplit_once('/').map_or("", |(folder, _)| folder).to_string();
            s.per_second = if elapsed > 0.0 { s.done as f64 / elapsed } else { 0.0 };
            s.seconds_left = (s.per_second > 0.0).then(|| s.total.saturating_sub(s.done) as f64 / s.per_second);
            if let Some(reason) = skipped {
                s.skipped += 1;
                if s.skipped_files.len() < MOST_LISTED {
                    s.skipped_files.push(Skipped { path: path.to_string(), reason });
                }
            }
        });
    }

    fn update(&self, now: bool, change: impl FnOnce(&mut RunStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()).0);
        self.publish(now);
    }

    /// Writes the file (unless it was written less than `EVERY` ago and `now` is false).
    fn publish(&self, now: bool) {
        let mut guard = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let (status, written) = &mut *guard;
        if !now && written.is_some_and(|at| at.elapsed() < EVERY) {
            return;
        }
        *written = Some(Instant::now());
        let json = serde_json::to_vec(status).expect("a status serialises");
        // Best effort: progress display must never fail an indexing run. A fresh temporary file
        // of its own, renamed over the old: a planted link is replaced, never written through.
        let _ = crate::support::index_folder::replace_file(&self.path, &json);
    }
}

impl Drop for StatusFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The status of the run indexing `index_dir` now, if one is running.
pub fn read(index_dir: &Path) -> Option<RunStatus> {
    // Bounded, and never through a link or from a FIFO (a server reads this on every status call).
    let bytes = crate::support::index_folder::read_own_file(&index_dir.join(FILE), 1 << 20).ok()?;
    let status: RunStatus = serde_json::from_slice(&bytes).ok()?;
    is_running(status.pid).then_some(status)
}

/// Whether process `pid` still exists (a killed indexer leaves its file behind).
fn is_running(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_publishes_its_progress_and_removes_it_at_the_end() {
        let d = tempfile::tempdir().unwrap();
        let file = StatusFile::start(d.path());
        assert_eq!(read(d.path()).unwrap().phase, "scanning");
        file.phase("embedding", 4);
        file.advance("2024/a.jpg", None);
        file.advance("2024/broken.jpg", Some("not an image".into()));
        let status = read(d.path()).unwrap();
        assert_eq!((status.phase.as_str(), status.done, status.total, status.skipped), ("embedding", 2, 4, 1));
        assert_eq!(status.folder, "2024");
        assert_eq!(status.skipped_files, [Skipped { path: "2024/broken.jpg".into(), reason: "not an image".into() }]);
        assert!(status.seconds_left.is_some());
        drop(file);
        assert!(read(d.path()).is_none());
    }

    #[test]
    fn a_file_left_by_a_process_that_is_gone_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let gone = RunStatus { pid: u32::MAX - 1, phase: "embedding".into(), ..RunStatus::default() };
        std::fs::write(d.path().join(FILE), serde_json::to_vec(&gone).unwrap()).unwrap();
        assert!(read(d.path()).is_none());
    }
}
