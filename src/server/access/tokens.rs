//! Bearer tokens for scripts (`clipfind token create|list|revoke`): random, shown once, kept in
//! the index folder only as SHA-256 digests (a token is 256 random bits, so a fast digest is as
//! good as a slow one), each scoped to reading the library.
//!
//! `Authorization: Bearer cft_<id>_<secret>`; the server reads the file again whenever it
//! changes, so a revoked token is refused from the next request on.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use anyhow::{bail, Context};
use clipfind_engine::support::index_folder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The file in the index folder.
pub const TOKENS_FILE: &str = "tokens.json";
/// Tokens start with this, so secret scanners and people recognise them.
const PREFIX: &str = "cft_";
/// Larger token files are refused (a token is about 200 bytes of JSON).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Search and see the library (every GET, and searching by an uploaded image); never sign
    /// in or out.
    Read,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public part of the token (8 hex digits), what `revoke` takes.
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created: i64,
    pub scope: Scope,
    /// SHA-256 of the whole token, hex.
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokensJson {
    tokens: Vec<TokenRecord>,
}

/// The tokens file of one index folder, for the `token` commands.
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    pub fn of_index(index_dir: &Path) -> TokenFile {
        TokenFile { path: index_dir.join(TOKENS_FILE) }
    }

    pub fn list(&self) -> anyhow::Result<Vec<TokenRecord>> {
        let bytes = match index_folder::read_own_file(&self.path, MAX_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        };
        let json: TokensJson = serde_json::from_slice(&bytes).with_context(|| format!("{} is not a clipfind tokens file", self.path.display()))?;
        Ok(json.tokens)
    }

    /// Makes a token named `name`; returns its record and the token itself (shown once).
    pub fn create(&self, name: &str) -> anyhow::Result<(TokenRecord, String)> {
        self.prepare_folder()?;
        let mut tokens = self.list()?;
        let id = hex(&super::secret::random_bytes::<4>());
        let token = format!("{PREFIX}{id}_{}", super::secret::base64url(&super::secret::random_bytes::<32>()));
        let created = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let record = TokenRecord { id, name: name.to_string(), created, scope: Scope::Read, sha256: hex(&Sha256::digest(token.as_bytes())) };
        tokens.push(record.clone());
        self.save(tokens)?;
        Ok((record, token))
    }

    /// Removes the token `id`; false when there is none.
    pub fn revoke(&self, id: &str) -> anyhow::Result<bool> {
        self.prepare_folder()?;
        let mut tokens = self.list()?;
        let before = tokens.len();
        tokens.retain(|t| t.id != id);
        if tokens.len() == before {
            return Ok(false);
        }
        self.save(tokens)?;
        Ok(true)
    }

    fn prepare_folder(&self) -> anyhow::Result<()> {
        let Some(dir) = self.path.parent() else { bail!("no index folder") };
        index_folder::create(dir).with_context(|| format!("the index folder {} cannot hold tokens", dir.display()))
    }

    fn save(&self, tokens: Vec<TokenRecord>) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(&TokensJson { tokens }).expect("tokens serialise");
        index_folder::replace_private_file(&self.path, &bytes).with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The server's view of the tokens file: read again when its size or time changes.
pub struct Tokens {
    file: TokenFile,
    seen: Mutex<(Option<(SystemTime, u64)>, Vec<TokenRecord>)>,
}

impl Tokens {
    pub fn of_index(index_dir: &Path) -> Tokens {
        Tokens { file: TokenFile::of_index(index_dir), seen: Mutex::new((None, Vec::new())) }
    }

    /// The token's record when `presented` is a token that has not been revoked.
    pub fn verify(&self, presented: &str) -> Option<TokenRecord> {
        let id = presented.strip_prefix(PREFIX)?.split_once('_')?.0;
        let digest = hex(&Sha256::digest(presented.as_bytes()));
        self.current().into_iter().find(|t| t.id == id && bool::from(t.sha256.as_bytes().ct_eq(digest.as_bytes())))
    }

    fn current(&self) -> Vec<TokenRecord> {
        let stamp = std::fs::symlink_metadata(&self.file.path).ok().filter(|m| m.is_file()).map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.0 != stamp {
            let tokens = match stamp {
                None => Vec::new(),
                Some(_) => self.file.list().unwrap_or_else(|e| {
                    tracing::warn!("no token is accepted: {e:#}");
                    Vec::new()
                }),
            };
            *seen = (stamp, tokens);
        }
        seen.1.clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_verifies_until_revoked_and_only_its_digest_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join(".clipfind");
        let file = TokenFile::of_index(&index);
        let (record, token) = file.create("backup").unwrap();
        let server = Tokens::of_index(&index);
        assert_eq!(server.verify(&token).map(|t| t.name), Some("backup".to_string()));
        assert_eq!(server.verify(&format!("{token}x")), None);
        assert_eq!(server.verify("cft_00000000_guess"), None);
        let stored = std::fs::read_to_string(index.join(TOKENS_FILE)).unwrap();
        assert!(!stored.contains(&token[12..]), "the secret itself is stored");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(index.join(TOKENS_FILE)).unwrap().mode() & 0o777, 0o600);
        assert!(file.revoke(&record.id).unwrap());
        assert!(!file.revoke(&record.id).unwrap());
        assert_eq!(server.verify(&token), None, "a revoked token is refused");
    }

    #[test]
    fn a_planted_link_as_the_tokens_file_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join(".clipfind");
        std::fs::create_dir(&index).unwrap();
        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::write(&elsewhere, r#"{"tokens":[]}"#).unwrap();
        std::os::unix::fs::symlink(&elsewhere, index.join(TOKENS_FILE)).unwrap();
        assert!(TokenFile::of_index(&index).list().is_err());
        assert!(TokenFile::of_index(&index).create("x").is_err(), "the index folder holding a link is refused");
    }
}
