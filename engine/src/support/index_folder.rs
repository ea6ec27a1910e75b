//! The index folder as clipfind writes it, and nothing a photo folder could plant in it.
//!
//! The index defaults to `DATA/.clipfind`, inside a folder that may come from an archive or a
//! synced share, so its contents are not trusted: a planted `thumbs -> ../../home` would make
//! thumbnail pruning delete a home folder, a planted `writer.lock -> ~/.profile` would have the
//! lock truncate it. So the folder and every entry in it are checked without following links
//! (a link, a hard-linked file or, for writing, anything owned by another user is refused with a
//! clear error), and the files clipfind replaces are written to a new temporary file of its own
//! (`O_CREAT | O_EXCL | O_NOFOLLOW`) and renamed into place: a rename replaces a link itself,
//! never what it points to.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use crate::{EngineError, Result};

/// What a caller will do with the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only read it (a server; another user's index on a read-only mount is fine).
    Read,
    /// Change it (indexing): it must be the user's own.
    Write,
}

/// Folders inside the index whose entries are checked too (one level down).
const CHECKED_SUBFOLDERS: &[&str] = &["thumbs"];

/// Creates the index folder (and its parents) if needed, then checks it for writing.
pub fn create(index_dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(index_dir).is_err() {
        std::fs::create_dir_all(index_dir).map_err(|source| EngineError::Io { path: index_dir.to_path_buf(), source })?;
    }
    check(index_dir, Access::Write)
}

/// Refuses an index folder that is, or holds, a symbolic link, a hard link to a file elsewhere,
/// something other than files and folders, or (for writing) anything owned by another user.
/// A missing folder passes (there is nothing to redirect yet).
pub fn check(index_dir: &Path, access: Access) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(index_dir) else { return Ok(()) };
    check_entry(index_dir, &meta, access, true)?;
    for entry in entries(index_dir)? {
        let meta = entry.metadata().map_err(|source| EngineError::Io { path: entry.path(), source })?;
        check_entry(&entry.path(), &meta, access, false)?;
        let name = entry.file_name();
        if meta.is_dir() && CHECKED_SUBFOLDERS.iter().any(|s| name == *s) {
            for inner in entries(&entry.path())? {
                let inner_meta = inner.metadata().map_err(|source| EngineError::Io { path: inner.path(), source })?;
                check_entry(&inner.path(), &inner_meta, access, false)?;
            }
        }
    }
    Ok(())
}

/// One entry, as `symlink_metadata` (or a directory listing) describes it, never its target.
fn check_entry(path: &Path, meta: &std::fs::Metadata, access: Access, is_top: bool) -> Result<()> {
    let refuse = |why: String| Err(EngineError::UnsafeIndex { path: path.to_path_buf(), reason: why });
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".into());
        return refuse(format!("it is a symbolic link (to {target}); clipfind never follows links in its index folder"));
    }
    if is_top && !kind.is_dir() {
        return refuse("it is not a folder".into());
    }
    if !(kind.is_dir() || kind.is_file()) {
        return refuse("it is neither a file nor a folder (a pipe, socket or device)".into());
    }
    if kind.is_file() && meta.nlink() > 1 {
        return refuse(format!("it is a hard link ({} names share this file); clipfind only writes files of its own here", meta.nlink()));
    }
    let me = effective_uid();
    if access == Access::Write && meta.uid() != me {
        return refuse(format!("it belongs to another user (uid {}, you are uid {me})", meta.uid()));
    }
    Ok(())
}

fn entries(dir: &Path) -> Result<impl Iterator<Item = std::fs::DirEntry>> {
    let listing = std::fs::read_dir(dir).map_err(|source| EngineError::Io { path: dir.to_path_buf(), source })?;
    Ok(listing.flatten())
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Opens `path` for reading and writing, creating it if missing, without following a link in
/// its last part and refusing a file that is not a plain file of one name (a lock file).
pub fn open_own_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).mode(0o600).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.nlink() > 1 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a plain file of clipfind's own (a hard link, pipe or device)"));
    }
    Ok(file)
}

/// Opens a plain file of clipfind's own for reading: never through a link in its last part,
/// never blocking on a FIFO planted under the name.
pub fn open_own_for_reading(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a plain file of clipfind's own"));
    }
    Ok(file)
}

/// `/proc/self/fd/N` of an open file: opening it again opens this very file, whatever its name
/// names now (what a server hands to a file-serving crate that takes a path).
pub fn fd_path(file: &File) -> PathBuf {
    use std::os::unix::io::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Reads a plain file of clipfind's own, at most `limit` bytes: never through a link, never
/// blocking on a FIFO planted under the name.
pub fn read_own_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_own_for_reading(path)?;
    let meta = file.metadata()?;
    if meta.len() > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a plain file of a plausible size"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Replaces `path` with `bytes` atomically: written to a temporary file that only this call can
/// have made (`<path>.<pid>.<n>.tmp`, exclusive, no links followed), then renamed over `path`.
/// A failed write leaves `path` as it was and removes the temporary file.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with_mode(path, bytes, 0o644)
}

/// As [`replace_file`], readable by its owner only (credentials, token digests).
pub fn replace_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with_mode(path, bytes, 0o600)
}

fn replace_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let temporary = temporary_name(path);
    let created = OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).mode(mode).open(&temporary);
    let written = created.and_then(|mut f| f.write_all(bytes)).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Creates a new file at `path`, failing if anything (a file, a link, a FIFO) is there already.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).mode(0o644).open(path)
}

/// Whether `name` is a temporary file [`replace_file`] makes (left behind by a crash).
pub fn is_temporary_name(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(".tmp") else { return false };
    let mut parts = rest.rsplitn(3, '.');
    let (n, pid) = (parts.next(), parts.next());
    parts.next().is_some_and(|stem| !stem.is_empty()) && [n, pid].iter().all(|p| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

fn temporary_name(path: &Path) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!("{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn a_clean_index_folder_passes_and_a_missing_one_is_made() {
        let d = tempfile::tempdir().unwrap();
        let index = d.path().join("a/.clipfind");
        create(&index).unwrap();
        std::fs::create_dir_all(index.join("thumbs/ab")).unwrap();
        std::fs::write(index.join("catalog.sqlite"), b"x").unwrap();
        check(&index, Access::Write).unwrap();
    }

    #[test]
    fn links_anywhere_in_the_index_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("home");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("report.txt"), b"keep").unwrap();
        let planted = |make: &dyn Fn(&Path)| {
            let index = d.path().join(format!("index-{}", rand_suffix()));
            std::fs::create_dir_all(index.join("thumbs")).unwrap();
            make(&index);
            check(&index, Access::Read).err().map(|e| e.to_string())
        };
        let cases: [(&str, &dyn Fn(&Path)); 5] = [
            ("thumbs folder", &|i| {
                std::fs::remove_dir(i.join("thumbs")).unwrap();
                symlink(&outside, i.join("thumbs")).unwrap();
            }),
            ("shard", &|i| symlink(&outside, i.join("thumbs/ab")).unwrap()),
            ("lock file", &|i| symlink(outside.join("report.txt"), i.join("writer.lock")).unwrap()),
            ("dangling status", &|i| symlink("/nonexistent/x", i.join("indexing.json.tmp")).unwrap()),
            ("hard link", &|i| std::fs::hard_link(outside.join("report.txt"), i.join("catalog.sqlite")).unwrap()),
        ];
        for (what, make) in cases {
            let err = planted(make).unwrap_or_else(|| panic!("a planted {what} was accepted"));
            assert!(err.contains("link"), "{what}: {err}");
        }
        let whole = d.path().join("linked-index");
        symlink(&outside, &whole).unwrap();
        assert!(check(&whole, Access::Read).is_err(), "an index folder that is itself a link");
        assert_eq!(std::fs::read(outside.join("report.txt")).unwrap(), b"keep");
    }

    #[test]
    fn a_fifo_in_the_index_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let fifo = std::ffi::CString::new(d.path().join("indexing.json").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = check(d.path(), Access::Read).unwrap_err().to_string();
        assert!(err.contains("pipe"), "{err}");
    }

    #[test]
    fn replacing_a_file_replaces_a_planted_link_not_its_target() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("profile");
        std::fs::write(&target, b"mine").unwrap();
        let path = d.path().join("indexing.json");
        symlink(&target, &path).unwrap();
        replace_file(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"mine");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn a_lock_file_that_is_a_link_or_a_hard_link_is_not_opened() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("profile");
        std::fs::write(&target, b"mine").unwrap();
        symlink(&target, d.path().join("link.lock")).unwrap();
        assert!(open_own_file(&d.path().join("link.lock")).is_err());
        std::fs::hard_link(&target, d.path().join("hard.lock")).unwrap();
        assert!(open_own_file(&d.path().join("hard.lock")).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"mine");
        open_own_file(&d.path().join("new.lock")).unwrap();
    }

    #[test]
    fn temporary_names_are_recognised() {
        let name = temporary_name(Path::new("/x/abc.jpg"));
        assert!(is_temporary_name(name.file_name().unwrap().to_str().unwrap()), "{name:?}");
        for not in ["abc.jpg", "report.txt.tmp", ".1.2.tmp", "a.b.2.tmp", "a.1.b.tmp"] {
            assert!(!is_temporary_name(not), "{not}");
        }
    }

    fn rand_suffix() -> u64 {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}
