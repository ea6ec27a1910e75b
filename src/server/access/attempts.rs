//! Failed sign-ins, counted per client address: after a few in a row, that client is refused
//! for a while without its guesses being checked (guessing a password then takes years, and
//! nobody can keep the server busy with argon2).

use std::{
    net::IpAddr,
    num::NonZeroUsize,
    sync::Mutex,
    time::{Duration, Instant},
};

use lru::LruCache;

/// Failed attempts a client may make within [`WINDOW`].
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a client that made too many waits.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Clients remembered (the least recent is forgotten first).
const CLIENTS: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

pub struct Attempts {
    /// Per client: failures since the window started, and when it started.
    failures: Mutex<LruCache<IpAddr, (u32, Instant)>>,
}

impl Default for Attempts {
    fn default() -> Self {
        Attempts { failures: Mutex::new(LruCache::new(CLIENTS)) }
    }
}

impl Attempts {
    /// How long `client` must wait before trying again (None: it may try now).
    pub fn wait(&self, client: IpAddr) -> Option<Duration> {
        let mut failures = self.lock();
        let &(count, since) = failures.get(&client)?;
        let left = WINDOW.saturating_sub(since.elapsed());
        if left.is_zero() {
            failures.pop(&client);
            return None;
        }
        (count >= MAX_FAILURES).then_some(left)
    }

    pub fn failed(&self, client: IpAddr) {
        let mut failures = self.lock();
        let entry = failures.get_or_insert_mut(client, || (0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, client: IpAddr) {
        self.lock().pop(&client);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<IpAddr, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_refused_after_too_many_failures_and_others_are_not() {
        let attempts = Attempts::default();
        let (guesser, owner) = ("10.0.0.9".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert_eq!(attempts.wait(guesser), None);
            attempts.failed(guesser);
        }
        let wait = attempts.wait(guesser).expect("refused");
        assert!(wait <= WINDOW && wait > WINDOW - Duration::from_secs(5));
        assert_eq!(attempts.wait(owner), None);
        attempts.succeeded(guesser);
        assert_eq!(attempts.wait(guesser), None);
    }
}
