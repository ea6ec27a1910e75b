//! A supervised `ffmpeg` or `ffprobe` process: stdout left to the caller, stderr drained into a
//! bounded log, and a watchdog that kills and reaps it past its limit or when it is dropped.

use std::{
    collections::VecDeque,
    io::{self, BufRead, BufReader, Read},
    path::Path,
    process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio},
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::error::{spawn_error, VideoError};

/// A running `ffmpeg` or `ffprobe`: stdout is for the caller to read, stderr is drained by a
/// thread into the last few warnings and errors, and a [`Watchdog`] stops the process past its
/// limit. Dropping it kills and reaps the process.
pub(super) struct Supervised {
    pub(super) stdout: ChildStdout,
    log: Arc<Mutex<VecDeque<String>>>,
    drain: Option<JoinHandle<()>>,
    watchdog: Option<Watchdog>,
}

/// How many warning and error lines a run keeps for its error message.
const LOG_LINES: usize = 32;
/// Longest log line kept, in bytes (FFmpeg's are under 200; the rest of a longer one is dropped).
const LOG_LINE_BYTES: usize = 1024;

impl Supervised {
    /// Starts `command` (stdin closed, stdout and stderr piped), stopped after `limit`; `what`
    /// and `binary` name it in errors.
    pub(super) fn spawn(mut command: Command, what: &str, binary: &Path, limit: Duration) -> Result<Self, VideoError> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| spawn_error(what, binary, source))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(VideoError::Io { path: binary.into(), source: io::Error::other("the process's pipes are missing") });
        };
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let drain = Some(spawn_drain(stderr, Arc::clone(&log)));
        Ok(Self { stdout, log, drain, watchdog: Some(Watchdog::start(child, limit)) })
    }

    /// The process's id (it stays valid until the process is reaped).
    #[cfg(test)]
    pub(super) fn pid(&self) -> u32 {
        self.watchdog.as_ref().map_or(0, |w| w.pid)
    }

    /// Waits for the exit (the caller has read stdout to its end) and returns the status, or
    /// None when the limit stopped the process, and the kept log lines.
    pub(super) fn finish(mut self) -> io::Result<(Option<ExitStatus>, Vec<String>)> {
        let exit = match self.watchdog.take() {
            Some(watchdog) => watchdog.wait()?,
            None => None,
        };
        if let Some(drain) = self.drain.take() {
            let _ = drain.join(); // the pipe closed with the process, so this returns
        }
        let log = self.log.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default();
        Ok((exit, log))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        drop(self.watchdog.take()); // kills and reaps the process, closing its pipes
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

/// Owns a child process on a thread of its own, which polls for its exit and kills and reaps it
/// at the deadline or as soon as this is dropped: whoever reads the child's pipes can block on
/// them, and a hung child still ends.
struct Watchdog {
    #[cfg_attr(not(test), allow(dead_code))] // read by the tests that watch the process go
    pid: u32,
    /// Dropped to stop the child early.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<io::Result<Option<ExitStatus>>>>,
}

/// How often a watchdog looks for its child's exit: a few milliseconds on runs of a tenth of a
/// second or more.
const EXIT_POLL: Duration = Duration::from_millis(5);

impl Watchdog {
    fn start(child: Child, limit: Duration) -> Self {
        let pid = child.id();
        let deadline = Instant::now() + limit;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn(move || watch(child, deadline, stopped));
        Self { pid, stop: Some(stop), thread: Some(thread) }
    }

    /// The exit status, or None when the deadline stopped the child.
    fn wait(mut self) -> io::Result<Option<ExitStatus>> {
        let thread = self.thread.take().expect("a watchdog is waited for once");
        thread.join().unwrap_or_else(|_| Err(io::Error::other("the watchdog thread panicked")))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watchdog's loop: the child's status when it exits; None when the deadline or a stop
/// came first (the child is then killed and reaped).
fn watch(mut child: Child, deadline: Instant, stopped: Receiver<()>) -> io::Result<Option<ExitStatus>> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) => {}
            Err(e) => {
                kill_and_reap(&mut child);
                return Err(e);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !matches!(stopped.recv_timeout(left.min(EXIT_POLL)), Err(RecvTimeoutError::Timeout)) {
            kill_and_reap(&mut child);
            return Ok(None);
        }
    }
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads `stderr` to its end, keeping the last [`LOG_LINES`] warning and error lines (each cut
/// to [`LOG_LINE_BYTES`]).
fn spawn_drain(stderr: ChildStderr, log: Arc<Mutex<VecDeque<String>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while matches!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES), Ok(true)) {
            let text = String::from_utf8_lossy(&line);
            if ["[error]", "[fatal]", "[panic]", "[warning]"].iter().any(|tag| text.contains(tag)) {
                if let Ok(mut log) = log.lock() {
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(text.trim().to_string());
                }
            }
        }
    })
}

/// Reads one line (up to and with its newline) into `line`, keeping only its first `cap` bytes;
/// false at the end of the input.
fn read_capped_line(reader: &mut impl BufRead, line: &mut Vec<u8>, cap: usize) -> io::Result<bool> {
    line.clear();
    let mut read_any = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(read_any);
        }
        read_any = true;
        let (taken, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&buf[..taken.min(room)]);
        reader.consume(taken);
        if ended {
            return Ok(true);
        }
    }
}

/// Reads `reader` to its end, keeping its first `cap` bytes (the writer never blocks on a full
/// pipe, and memory stays bounded).
pub(super) fn read_capped(reader: &mut impl Read, cap: usize) -> io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    reader.by_ref().take(cap as u64).read_to_end(&mut kept)?;
    io::copy(reader, &mut io::sink())?;
    Ok(kept)
}

/// Fills `buf` from `reader`; returns how many bytes it got (less than `buf.len()` at the end).
pub(super) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")] // looks in /proc
    fn a_process_past_its_limit_is_killed_and_reaped() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut sleeper = Supervised::spawn(command, "sleep", Path::new("sleep"), Duration::from_millis(200)).unwrap();
        let pid = sleeper.pid();
        assert!(read_capped(&mut sleeper.stdout, 10).unwrap().is_empty(), "stdout ends when it is killed");
        let (exit, _) = sleeper.finish().unwrap();
        assert!(exit.is_none(), "stopped by the limit: {exit:?}");
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "sleep {pid} outlived its limit");
    }

    #[test]
    fn log_lines_and_outputs_are_read_within_bounds() {
        let mut input = vec![b'x'; 1 << 20];
        input.extend_from_slice(b"\n[error] short\nlast");
        let mut reader = BufReader::with_capacity(4096, &input[..]);
        let mut line = Vec::new();
        assert!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());
        assert_eq!(line.len(), LOG_LINE_BYTES, "a megabyte line is cut");
        assert!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());
        assert_eq!(line, b"[error] short\n");
        assert!(read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());
        assert_eq!(line, b"last");
        assert!(!read_capped_line(&mut reader, &mut line, LOG_LINE_BYTES).unwrap());

        let mut all = &input[..];
        assert_eq!(read_capped(&mut all, 100).unwrap(), &input[..100]);
        assert!(all.is_empty(), "the rest is read and dropped");
    }
}
