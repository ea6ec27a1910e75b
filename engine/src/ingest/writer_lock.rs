//! One writer per index. `clipfind index` holds an exclusive lock on `writer.lock` in the index
//! folder while it changes the index: two writers would append to the vector file at the same
//! slots. The lock is the kernel's (`flock`), so it goes with the process: a killed writer's lock
//! is free at once, never stale. The file names the holder's pid for the message.

use std::{
    fs::{File, TryLockError},
    io::{Read, Seek, Write},
    path::Path,
};

use crate::{EngineError, Result};

/// The lock file's name inside the index folder.
pub const LOCK_FILE: &str = "writer.lock";

/// Held while an index is being written; released when dropped (or when the process dies).
pub struct WriterLock {
    _file: File,
}

/// Takes the index's writer lock, or says who holds it.
pub fn acquire(index_dir: &Path) -> Result<WriterLock> {
    let path = index_dir.join(LOCK_FILE);
    let io = |source| EngineError::Io { path: path.clone(), source };
    // Never through a link or into a file with other names (a planted `writer.lock -> ~/.profile`).
    let mut file = crate::support::index_folder::open_own_file(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            Ok(WriterLock { _file: file })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { "another clipfind process".to_string() } else { format!("another clipfind process (pid {holder})") };
            Err(EngineError::Busy(format!(
                "{who} is indexing {} right now; wait for it to finish (or stop it) and run this again",
                index_dir.display()
            )))
        }
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_holds_the_lock_until_it_is_released() {
        let d = tempfile::tempdir().unwrap();
        let held = acquire(d.path()).unwrap();
        let err = acquire(d.path()).err().unwrap().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("is indexing"), "{err}");
        drop(held);
        acquire(d.path()).unwrap();
    }
}
