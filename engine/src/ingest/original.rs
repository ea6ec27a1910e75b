//! An indexed file opened to be served or read again: still the content the index holds, and
//! still inside the library.
//!
//! A photo folder can change after indexing: `ln -sf /some/secret a.png` must not make
//! `/image/ID` answer the secret. So the file is opened first and judged by what was opened
//! (its real path read back from `/proc/self/fd`, so no swap between a check and the open goes
//! unseen): it must be a plain file, lie under a data folder or under the target of a link the
//! last scan followed, and have the indexed size and mtime, or else the indexed content hash.

use std::{
    fs::File,
    io::Read,
    os::unix::{fs::OpenOptionsExt, io::AsRawFd},
    path::{Path, PathBuf},
};

use crate::{catalog::{Catalog, ImageRow}, ingest::roots::Roots, EngineError, Result};

/// Meta key: the link targets the last scan followed, as JSON.
const LINKS_KEY: &str = "followed_links";

/// An indexed file, open and checked.
#[derive(Debug)]
pub struct Original {
    /// The open file (serve from it, or from [`Original::fd_path`], never by name again).
    pub file: File,
    /// Where the file really is (links resolved).
    pub real_path: PathBuf,
    /// Its size and modification time as opened.
    pub metadata: std::fs::Metadata,
}

impl Original {
    /// `/proc/self/fd/N`: opening it again opens this very file, whatever its name now names.
    pub fn fd_path(&self) -> PathBuf {
        crate::support::index_folder::fd_path(&self.file)
    }

    /// The whole file from its start, refused when it is larger than `max_bytes` (checked as
    /// it is read, so a file growing meanwhile is refused too).
    pub fn read_to_end(&self, max_bytes: u64) -> Result<Vec<u8>> {
        use std::io::Seek;
        (&self.file).seek(std::io::SeekFrom::Start(0)).map_err(|source| EngineError::Io { path: self.real_path.clone(), source })?;
        crate::ingest::pipeline::read_within(&self.file, max_bytes).map_err(|reason| EngineError::NotFound(format!("{}: {reason}", self.real_path.display())))
    }
}

/// Opens the file of `row`, refusing (as not found) one that left the library or changed.
pub fn open(row: &ImageRow, roots: &Roots, links: &[PathBuf]) -> Result<Original> {
    let gone = |why: &str| EngineError::NotFound(format!("image #{} is not served: {why} (re-run clipfind index)", row.id));
    let path = roots.full_path(&row.path).ok_or_else(|| gone("its stored path is not inside a data folder"))?;
    // Non-blocking: a FIFO swapped in under the name must not hold the request.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&path).map_err(|_| gone("the file is gone"))?;
    let metadata = file.metadata().map_err(|_| gone("the file cannot be read"))?;
    if !metadata.is_file() {
        return Err(gone("it is no longer a plain file"));
    }
    let real_path = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(|_| gone("its real path cannot be read"))?;
    if !is_allowed(&real_path, roots, links) {
        return Err(gone("it now leads outside the library"));
    }
    let mut original = Original { file, real_path, metadata };
    if !is_indexed_content(row, &mut original)? {
        return Err(gone("the file changed since it was indexed"));
    }
    Ok(original)
}

/// Under a data folder (canonical), or at or under a link target the scan followed.
fn is_allowed(real: &Path, roots: &Roots, links: &[PathBuf]) -> bool {
    let in_folder = roots.folders().iter().any(|root| root.path.canonicalize().is_ok_and(|canonical| real.starts_with(canonical)));
    in_folder || links.iter().any(|target| real.starts_with(target))
}

/// Same size and mtime as indexed; else the same content hash (a `touch`, a copy back).
fn is_indexed_content(row: &ImageRow, original: &mut Original) -> Result<bool> {
    let meta = &original.metadata;
    if (meta.len(), crate::ingest::scan::mtime_ns(meta)) == (row.size, row.mtime_ns) {
        return Ok(true);
    }
    if meta.len() != row.size && row.video.is_none() {
        return Ok(false); // an image's hash covers every byte: another size is other content
    }
    let io = |source| EngineError::Io { path: original.real_path.clone(), source };
    let hash = match row.video {
        Some(_) => crate::media::video::hash_sampled(&original.file, meta.len()).map_err(io)?,
        None => {
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            (&original.file).take(row.size).read_to_end(&mut bytes).map_err(io)?;
            crate::support::digest::content_hash(&bytes)
        }
    };
    use std::io::Seek;
    (&original.file).rewind().map_err(io)?;
    Ok(hash == row.hash)
}

/// Records the link targets a scan followed (written only when they changed).
pub(crate) fn record_links(catalog: &mut Catalog, links: &[PathBuf]) -> Result<()> {
    let mut links: Vec<&PathBuf> = links.iter().collect();
    links.sort();
    links.dedup();
    let json = serde_json::to_string(&links).expect("paths serialise");
    if catalog.meta(LINKS_KEY)?.as_deref() == Some(json.as_str()) {
        return Ok(());
    }
    catalog.set_meta(LINKS_KEY, &json)
}

/// The link targets the last scan followed (none for an index made before they were recorded:
/// its files are served from inside the data folders only).
pub(crate) fn followed_links(catalog: &Catalog) -> Result<Vec<PathBuf>> {
    Ok(catalog.meta(LINKS_KEY)?.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::media::photo_meta::PhotoMeta;

    fn row_for(path: &Path, stored: &str) -> ImageRow {
        let meta = std::fs::metadata(path).unwrap();
        ImageRow {
            id: 1,
            path: stored.into(),
            size: meta.len(),
            mtime_ns: crate::ingest::scan::mtime_ns(&meta),
            hash: crate::support::digest::content_hash(&std::fs::read(path).unwrap()),
            width: 1,
            height: 1,
            indexed_at: 0,
            slot: 0,
            meta: PhotoMeta::default(),
            video: None,
            motion_ms: None,
        }
    }

    #[test]
    fn a_file_swapped_for_a_link_to_a_secret_is_not_served() {
        let d = tempfile::tempdir().unwrap();
        let (library, secret) = (d.path().join("library"), d.path().join("secret.txt"));
        std::fs::create_dir(&library).unwrap();
        std::fs::write(library.join("a.png"), b"indexed bytes").unwrap();
        std::fs::write(&secret, b"private").unwrap();
        let roots = Roots::single(library.clone());
        let row = row_for(&library.join("a.png"), "a.png");
        let mut served = String::new();
        open(&row, &roots, &[]).unwrap().file.read_to_string(&mut served).unwrap();
        assert_eq!(served, "indexed bytes");
        std::fs::remove_file(library.join("a.png")).unwrap();
        symlink(&secret, library.join("a.png")).unwrap();
        let err = open(&row, &roots, &[]).unwrap_err().to_string();
        assert!(err.contains("outside the library"), "{err}");
        // Even a link the scan followed to that place serves only the indexed content.
        let err = open(&row, &roots, &[secret.canonicalize().unwrap()]).unwrap_err().to_string();
        assert!(err.contains("changed"), "{err}");
    }

    #[test]
    fn edited_files_stored_paths_that_escape_and_fifos_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.png"), b"indexed bytes").unwrap();
        let roots = Roots::single(d.path().into());
        let row = row_for(&d.path().join("a.png"), "a.png");
        std::fs::write(d.path().join("a.png"), b"other bytes!!").unwrap();
        assert!(open(&row, &roots, &[]).unwrap_err().to_string().contains("changed"));
        std::fs::write(d.path().join("a.png"), b"indexed bytes").unwrap();
        open(&row, &roots, &[]).expect("the same content with a new mtime is still the indexed file");
        let escaping = ImageRow { path: "../etc/passwd".into(), ..row.clone() };
        assert!(open(&escaping, &roots, &[]).unwrap_err().to_string().contains("not inside a data folder"));
        std::fs::remove_file(d.path().join("a.png")).unwrap();
        let fifo = std::ffi::CString::new(d.path().join("a.png").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(open(&row, &roots, &[]).unwrap_err().to_string().contains("plain file"));
    }

    #[test]
    fn a_followed_link_to_a_folder_elsewhere_is_served() {
        let d = tempfile::tempdir().unwrap();
        let (library, elsewhere) = (d.path().join("library"), d.path().join("disk2"));
        std::fs::create_dir_all(&library).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("b.jpg"), b"jpeg").unwrap();
        symlink(&elsewhere, library.join("2019")).unwrap();
        let roots = Roots::single(library.clone());
        let row = row_for(&elsewhere.join("b.jpg"), "2019/b.jpg");
        assert!(open(&row, &roots, &[]).is_err(), "not a link the scan followed");
        open(&row, &roots, &[elsewhere.canonicalize().unwrap()]).unwrap();
    }
}
