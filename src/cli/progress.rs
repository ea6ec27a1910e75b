//! Draws the engine's progress hooks as indicatif bars on the terminal.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use clipfind_engine::support::progress::Progress;

/// One bar per task, drawn on stderr; `template` uses indicatif's keys.
pub struct Bar {
    template: &'static str,
    bar: Mutex<ProgressBar>,
}

impl Bar {
    /// A bar for byte counts (downloads).
    pub fn bytes() -> Bar {
        Bar::new("{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    }

    /// A bar for counted items (images).
    pub fn items() -> Bar {
        Bar::new("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
    }

    fn new(template: &'static str) -> Bar {
        Bar { template, bar: Mutex::new(ProgressBar::hidden()) }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, ProgressBar> {
        self.bar.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Progress for Bar {
    fn begin(&self, label: &str, total: Option<u64>, done: u64) {
        let bar = total.map_or_else(ProgressBar::no_length, ProgressBar::new);
        bar.set_style(ProgressStyle::with_template(self.template).expect("a valid template").progress_chars("=> "));
        bar.set_message(super::terminal::shown(label).into_owned());
        bar.set_position(done);
        *self.current() = bar;
    }

    fn advance(&self, n: u64) {
        self.current().inc(n);
    }

    fn finish(&self) {
        self.current().finish_and_clear();
    }
}
