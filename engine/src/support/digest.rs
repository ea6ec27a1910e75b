//! File digests: sha256 (a model's identity, an LFS file's oid) and git's blob sha1 (the id the
//! Hugging Face Hub gives a regular file in its `ETag`).

use std::{fs::File, io::Read, path::Path};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::{EngineError, Result};

/// A fast content hash (xxh3-128, hex) of a file's bytes: detects edits and recognises renames
/// and duplicates.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// sha256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    feed_file(path, |chunk| hasher.update(chunk))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// git's object id of a file as a blob: `sha1("blob <len>\0" + bytes)`, in lower-case hex.
pub fn git_blob_sha1_file(path: &Path) -> Result<String> {
    let len = std::fs::metadata(path).map_err(|source| EngineError::Io { path: path.to_path_buf(), source })?.len();
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {len}\0").as_bytes());
    feed_file(path, |chunk| hasher.update(chunk))?;
    Ok(format!("{:x}", hasher.finalize()))
}

fn feed_file(path: &Path, mut feed: impl FnMut(&[u8])) -> Result<()> {
    let io = |source| EngineError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf).map_err(io)? {
            0 => return Ok(()),
            n => feed(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_sha1_matches_git_hash_object() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello.txt");
        std::fs::write(&path, "hello\n").unwrap();
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(git_blob_sha1_file(&path).unwrap(), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(sha256_file(&path).unwrap(), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    }
}
