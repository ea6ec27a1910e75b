//! The library's password: given in `CLIPFIND_PASSWORD` or a file (never on the command line,
//! where every user of the machine can read it), kept only as an argon2id hash.

use std::{num::NonZeroUsize, path::Path, sync::Mutex};

use anyhow::{bail, Context};
use argon2::{password_hash::SaltString, Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use lru::LruCache;
use sha2::{Digest, Sha256};

/// The environment variable holding the password (read once, then removed from the process's
/// environment so that FFmpeg and other children never see it).
pub const PASSWORD_VAR: &str = "CLIPFIND_PASSWORD";

/// Shorter passwords are refused at start.
pub const MIN_LENGTH: usize = 8;

/// Correct passwords seen recently: a script sending `-u clipfind:PASSWORD` with every request
/// pays argon2's cost once, not per request.
const REMEMBERED: NonZeroUsize = NonZeroUsize::new(64).unwrap();

pub struct Password {
    /// The argon2id hash, as a PHC string.
    hash: String,
    /// Keyed digests of passwords that verified (the key is this process's own).
    verified: Mutex<LruCache<[u8; 32], ()>>,
    key: [u8; 32],
}

impl Password {
    /// The configured password: `CLIPFIND_PASSWORD`, else the first line of `file` (a password,
    /// or an argon2 PHC hash of one, `$argon2id$...`), else none.
    pub fn configured(file: Option<&Path>) -> anyhow::Result<Option<Password>> {
        let from_env = std::env::var(PASSWORD_VAR).ok();
        // The server is still one thread here: nothing reads the environment concurrently.
        std::env::remove_var(PASSWORD_VAR);
        if let Some(secret) = from_env.filter(|s| !s.is_empty()) {
            return Password::from_secret(&secret).map(Some);
        }
        let Some(file) = file else { return Ok(None) };
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read the password file {}", file.display()))?;
        warn_if_others_can_read(file);
        let line = text.lines().next().unwrap_or_default().trim_end_matches('\r');
        match line.starts_with("$argon2") {
            true => Password::from_hash(line).map(Some),
            false => Password::from_secret(line).map(Some),
        }
    }

    /// A password given in clear, hashed now.
    pub fn from_secret(secret: &str) -> anyhow::Result<Password> {
        if secret.chars().count() < MIN_LENGTH {
            bail!("the password is too short: use at least {MIN_LENGTH} characters");
        }
        let salt = SaltString::encode_b64(&super::secret::random_bytes::<16>()).map_err(|e| anyhow::anyhow!("cannot make a salt: {e}"))?;
        let hash = Argon2::default().hash_password(secret.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
        Password::from_hash(&hash.to_string())
    }

    /// A password given as its argon2 PHC hash.
    pub fn from_hash(phc: &str) -> anyhow::Result<Password> {
        let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("the password file's hash is not an argon2 PHC string: {e}"))?;
        if parsed.salt.is_none() || parsed.hash.is_none() || !parsed.algorithm.as_str().starts_with("argon2") {
            bail!("the password file's hash is not a whole argon2 hash ($argon2id$v=19$m=...,t=...,p=...$SALT$HASH)");
        }
        Ok(Password { hash: phc.to_string(), verified: Mutex::new(LruCache::new(REMEMBERED)), key: super::secret::random_bytes() })
    }

    /// Whether `presented` is the password (argon2 verification: tens of milliseconds, so call
    /// it off the async threads).
    pub fn verify(&self, presented: &str) -> bool {
        let digest = self.keyed_digest(presented);
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.get(&digest).is_some() {
            return true;
        }
        drop(verified);
        let Ok(hash) = PasswordHash::new(&self.hash) else { return false };
        let ok = Argon2::default().verify_password(presented.as_bytes(), &hash).is_ok();
        if ok {
            verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            verified.put(digest, ());
        }
        ok
    }

    fn keyed_digest(&self, presented: &str) -> [u8; 32] {
        Sha256::new().chain_update(self.key).chain_update(presented.as_bytes()).finalize().into()
    }
}

fn warn_if_others_can_read(file: &Path) {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(file).is_ok_and(|m| m.mode() & 0o077 != 0) {
        tracing::warn!("the password file {} can be read by other users: chmod 600 it", file.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_itself_and_nothing_else() {
        let password = Password::from_secret("correct horse").unwrap();
        assert!(password.hash.starts_with("$argon2id$"));
        assert!(password.verify("correct horse"));
        assert!(password.verify("correct horse"), "remembered");
        assert!(!password.verify("correct horse "));
        assert!(!password.verify(""));
    }

    #[test]
    fn a_hash_from_a_file_is_used_as_it_is_and_short_passwords_are_refused() {
        let hash = Password::from_secret("battery staple").unwrap().hash;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), format!("{hash}\n")).unwrap();
        let password = Password::configured(Some(file.path())).unwrap().unwrap();
        assert_eq!(password.hash, hash);
        assert!(password.verify("battery staple"));
        assert!(Password::from_secret("short").err().expect("refused").to_string().contains("too short"));
        assert!(Password::from_hash("$argon2id$nonsense").is_err());
    }
}
