//! Signed-in browsers: a random session id in an HttpOnly, SameSite=Strict cookie, remembered
//! (as its digest) in memory only, so a restart signs everyone out.

use std::{
    num::NonZeroUsize,
    sync::Mutex,
    time::{Duration, Instant},
};

use lru::LruCache;
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "clipfind_session";

/// How long a session lasts without signing in again.
pub const LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Sessions remembered at once; signing in beyond that ends the least recently used.
const MAX_SESSIONS: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

pub struct Sessions {
    live: Mutex<LruCache<[u8; 32], Instant>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { live: Mutex::new(LruCache::new(MAX_SESSIONS)) }
    }
}

impl Sessions {
    /// A new session; its id, to be sent once in the cookie.
    pub fn start(&self) -> String {
        let id = super::secret::base64url(&super::secret::random_bytes::<32>());
        self.lock().put(digest(&id), Instant::now() + LIFETIME);
        id
    }

    /// Whether `id` is a session that has not ended.
    pub fn is_valid(&self, id: &str) -> bool {
        let key = digest(id);
        let mut live = self.lock();
        match live.get(&key) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                live.pop(&key);
                false
            }
            None => false,
        }
    }

    pub fn end(&self, id: &str) {
        self.lock().pop(&digest(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<[u8; 32], Instant>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The `Set-Cookie` value that starts session `id`.
pub fn cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", LIFETIME.as_secs())
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn removal() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(name, _)| *name == COOKIE).map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_session_is_valid_until_ended() {
        let sessions = Sessions::default();
        let id = sessions.start();
        assert_eq!(id.len(), 43);
        assert!(sessions.is_valid(&id));
        assert!(!sessions.is_valid("forged"));
        sessions.end(&id);
        assert!(!sessions.is_valid(&id));
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let set = cookie("abc", false);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"), "{set}");
        assert_eq!(from_cookie_header("lang=zh; clipfind_session=abc; x=1"), Some("abc"));
        assert_eq!(from_cookie_header("lang=zh"), None);
    }
}
