//! The catalog: one SQLite file that is the index's source of truth. Per image: path (relative to
//! the data folder), size, mtime, content hash, dimensions, when it was indexed and its embedding;
//! plus the model identity and data root. Every change happens in a transaction (WAL mode), so a
//! killed process leaves the last committed state.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{EngineError, Result};

/// File name of the catalog database inside the index folder.
pub const CATALOG_FILE: &str = "catalog.sqlite";

const UPSERT_META: &str =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/// Bumped when the schema changes incompatibly.
const FORMAT: &str = "1";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- AUTOINCREMENT: ids are never reused, so a stale id (in a URL, a FAISS file) never names another image.
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    indexed_at INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_hash ON images (hash);
-- Files that could not be read, so an unchanged broken file is not retried on every run.
CREATE TABLE IF NOT EXISTS skipped (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);
";

/// An image as the catalog knows it (without its embedding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    /// Catalog id (SQLite rowid, never reused), also the image's id in the vector store.
    pub id: i64,
    /// Path relative to the data folder, `/`-separated.
    pub path: String,
    /// File size in bytes when last indexed.
    pub size: u64,
    /// File modification time when last indexed, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Content hash of the file's bytes (xxh3-128, 32 hex digits); also names its thumbnail.
    pub hash: String,
    /// Width in pixels of the upright (EXIF-oriented) image.
    pub width: u32,
    /// Height in pixels of the upright (EXIF-oriented) image.
    pub height: u32,
    /// When this path last got an embedding (its own or a duplicate's), in seconds since the Unix epoch.
    pub indexed_at: i64,
}

/// A file that could not be indexed, remembered so that it is not retried until it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// Path relative to the data folder, `/`-separated.
    pub path: String,
    /// File size in bytes when it failed.
    pub size: u64,
    /// File modification time when it failed, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Why it could not be indexed, as a sentence for the user.
    pub reason: String,
}

/// An open catalog database (read-write from [`Catalog::open`], or read-only).
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

/// Read-only, sharing the database with a writer (the WAL's readers' lock included); checked by
/// a first read, which is when SQLite opens the -wal and -shm files.
fn open_shared_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(conn)
}

/// Read-only with SQLite's `immutable` flag: no locks, no -wal or -shm file.
fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
    let absolute = std::path::absolute(path).map_err(|e| rusqlite::Error::InvalidPath(PathBuf::from(e.to_string())))?;
    let mut uri = url::Url::from_file_path(&absolute).map_err(|()| rusqlite::Error::InvalidPath(absolute.clone()))?;
    uri.set_query(Some("immutable=1"));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    Connection::open_with_flags(uri.as_str(), flags)
}

fn is_cannot_open(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly))
}

fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
    move |source| EngineError::Database { path: path.to_path_buf(), source }
}

impl Catalog {
    /// Opens (creating if needed) the catalog in `index_dir` for writing.
    pub fn open(index_dir: &Path) -> Result<Catalog> {
        let path = index_dir.join(CATALOG_FILE);
        let err = db_error(&path);
        let conn = Connection::open(&path).map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(&err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(&err)?;
        conn.execute_batch(SCHEMA).map_err(&err)?;
        let catalog = Catalog { conn, path: path.clone() };
        match catalog.meta("format")? {
            None => catalog.set_meta("format", FORMAT)?,
            Some(f) if f == FORMAT => {}
            Some(f) => {
                return Err(EngineError::Catalog {
                    path: catalog.path.clone(),
                    reason: format!("catalog format {f} is not readable by this clipfind (format {FORMAT}); rebuild with --rebuild"),
                })
            }
        }
        Ok(catalog)
    }

    /// Opens an existing catalog without ever writing to it.
    pub fn open_read_only(index_dir: &Path) -> Result<Catalog> {
        let path = index_dir.join(CATALOG_FILE);
        if !path.is_file() {
            return Err(EngineError::NoIndex(index_dir.to_path_buf()));
        }
        let conn = match open_shared_read_only(&path) {
            Ok(conn) => conn,
            // A WAL database needs its -shm file to be read; in a folder we may not write (a
            // read-only mount, another user's index) nobody can be writing it either, so it is
            // read as an immutable file.
            Err(e) if is_cannot_open(&e) => open_immutable(&path).map_err(db_error(&path))?,
            Err(e) => return Err(db_error(&path)(e)),
        };
        Ok(Catalog { conn, path })
    }

    /// Path of the catalog's SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value stored under `key` in the meta table (model identity, data root, factory, ...), if any.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(db_error(&self.path))
    }

    /// Stores `value` under `key` in the meta table at once, replacing any earlier value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(UPSERT_META, [key, value])
            .map(drop)
            .map_err(db_error(&self.path))
    }

    /// How many times the set of vectors has changed; the FAISS file records the one it holds.
    pub fn generation(&self) -> Result<u64> {
        Ok(self.meta("generation")?.and_then(|g| g.parse().ok()).unwrap_or(0))
    }

    /// Number of indexed images.
    pub fn count(&self) -> Result<u64> {
        self.conn.query_row("SELECT COUNT(*) FROM images", [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(db_error(&self.path))
    }

    /// Every indexed image (without its embedding), in id order.
    pub fn images(&self) -> Result<Vec<ImageRow>> {
        let err = db_error(&self.path);
        let mut stmt = self
            .conn
            .prepare("SELECT id, path, size, mtime_ns, hash, width, height, indexed_at FROM images ORDER BY id")
            .map_err(&err)?;
        let rows = stmt.query_map([], row_to_image).map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// Files remembered as unreadable, keyed by their path relative to the data folder.
    pub fn skipped(&self) -> Result<HashMap<String, SkippedRow>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare("SELECT path, size, mtime_ns, reason FROM skipped").map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SkippedRow { path: r.get(0)?, size: r.get::<_, i64>(1)? as u64, mtime_ns: r.get(2)?, reason: r.get(3)? })
            })
            .map_err(&err)?;
        rows.map(|r| r.map(|s| (s.path.clone(), s))).collect::<rusqlite::Result<_>>().map_err(&err)
    }

    /// The stored L2-normalised embedding of image `id`; `None` when there is no such image.
    pub fn embedding(&self, id: i64) -> Result<Option<Vec<f32>>> {
        self.conn
            .query_row("SELECT embedding FROM images WHERE id = ?1", [id], |r| r.get::<_, Vec<u8>>(0))
            .optional()
            .map(|b| b.map(|b| blob_to_vector(&b)))
            .map_err(db_error(&self.path))
    }

    /// Every (id, embedding), in id order: what the FAISS index is built from.
    pub fn vectors(&self, dim: usize) -> Result<(Vec<i64>, Vec<f32>)> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare("SELECT id, embedding FROM images ORDER BY id").map_err(&err)?;
        let mut rows = stmt.query([]).map_err(&err)?;
        let (mut ids, mut data) = (Vec::new(), Vec::new());
        while let Some(row) = rows.next().map_err(&err)? {
            let blob: Vec<u8> = row.get(1).map_err(&err)?;
            let v = blob_to_vector(&blob);
            if v.len() != dim {
                return Err(EngineError::Catalog { path: self.path.clone(), reason: format!("embedding of {} floats, expected {dim}", v.len()) });
            }
            ids.push(row.get(0).map_err(&err)?);
            data.extend_from_slice(&v);
        }
        Ok((ids, data))
    }

    /// Runs `f` in one transaction: all of it is committed, or none of it.
    pub fn write<T>(&mut self, f: impl FnOnce(&Writer<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_error(&path))?;
        let out = f(&Writer { tx: &tx, path: &path })?;
        tx.commit().map_err(db_error(&path))?;
        Ok(out)
    }
}

fn row_to_image(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
    Ok(ImageRow {
        id: r.get(0)?,
        path: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        mtime_ns: r.get(3)?,
        hash: r.get(4)?,
        width: r.get::<_, i64>(5)? as u32,
        height: r.get::<_, i64>(6)? as u32,
        indexed_at: r.get(7)?,
    })
}

/// Writes inside a [`Catalog::write`] transaction.
pub struct Writer<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    path: &'a Path,
}

/// What is stored for a newly embedded (or re-embedded) file.
pub struct NewImage<'a> {
    /// Path relative to the data folder, `/`-separated.
    pub path: &'a str,
    /// File size in bytes.
    pub size: u64,
    /// File modification time, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Content hash of the file's bytes (xxh3-128, hex).
    pub hash: &'a str,
    /// Width in pixels of the upright image.
    pub width: u32,
    /// Height in pixels of the upright image.
    pub height: u32,
    /// The image's L2-normalised embedding.
    pub embedding: &'a [f32],
}

impl Writer<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
        db_error(self.path)
    }

    /// Inserts or replaces the image at `img.path`; returns its id (kept when replacing).
    pub fn upsert(&self, img: &NewImage<'_>, now: i64) -> Result<i64> {
        let blob = vector_to_blob(img.embedding);
        self.tx
            .query_row(
                "INSERT INTO images (path, size, mtime_ns, hash, width, height, indexed_at, embedding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                   hash = excluded.hash, width = excluded.width, height = excluded.height,
                   indexed_at = excluded.indexed_at, embedding = excluded.embedding
                 RETURNING id",
                params![img.path, img.size as i64, img.mtime_ns, img.hash, img.width, img.height, now, blob],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// A rename or move: same content, new path; the embedding and id stay.
    pub fn move_image(&self, id: i64, new_path: &str, size: u64, mtime_ns: i64) -> Result<()> {
        self.tx
            .execute("UPDATE images SET path = ?2, size = ?3, mtime_ns = ?4 WHERE id = ?1", params![id, new_path, size as i64, mtime_ns])
            .map(drop)
            .map_err(self.err())
    }

    /// The file was touched but its content is the same.
    pub fn touch(&self, id: i64, size: u64, mtime_ns: i64) -> Result<()> {
        self.tx
            .execute("UPDATE images SET size = ?2, mtime_ns = ?3 WHERE id = ?1", params![id, size as i64, mtime_ns])
            .map(drop)
            .map_err(self.err())
    }

    /// Removes image `id` (its id is never given to another image).
    pub fn delete(&self, id: i64) -> Result<()> {
        self.tx.execute("DELETE FROM images WHERE id = ?1", [id]).map(drop).map_err(self.err())
    }

    /// Removes every image and every unreadable-file record; the meta table is kept.
    pub fn delete_all(&self) -> Result<()> {
        self.tx.execute_batch("DELETE FROM images; DELETE FROM skipped;").map_err(self.err())
    }

    /// The embedding of an indexed image whose content hash is `hash`, if there is one.
    pub fn embedding_of_hash(&self, hash: &str) -> Result<Option<Vec<f32>>> {
        self.tx
            .query_row("SELECT embedding FROM images WHERE hash = ?1 LIMIT 1", [hash], |r| r.get::<_, Vec<u8>>(0))
            .optional()
            .map(|b| b.map(|b| blob_to_vector(&b)))
            .map_err(self.err())
    }

    /// Width and height in pixels of an indexed image whose content hash is `hash`, if there is one.
    pub fn dimensions_of_hash(&self, hash: &str) -> Result<Option<(u32, u32)>> {
        self.tx
            .query_row("SELECT width, height FROM images WHERE hash = ?1 LIMIT 1", [hash], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(self.err())
    }

    /// Records `path` as unreadable for `reason` at this size (bytes) and mtime (nanoseconds since the Unix epoch).
    pub fn skip(&self, path: &str, size: u64, mtime_ns: i64, reason: &str) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO skipped (path, size, mtime_ns, reason) VALUES (?1, ?2, ?3, ?4)",
                params![path, size as i64, mtime_ns, reason],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Forgets any unreadable-file record for `path`.
    pub fn unskip(&self, path: &str) -> Result<()> {
        self.tx.execute("DELETE FROM skipped WHERE path = ?1", [path]).map(drop).map_err(self.err())
    }

    /// Stores `value` under `key` in the meta table, as part of this transaction.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.tx
            .execute(UPSERT_META, [key, value])
            .map(drop)
            .map_err(self.err())
    }

    /// Marks the vectors as changed: any FAISS file written before is now stale.
    pub fn bump_generation(&self) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO meta (key, value) VALUES ('generation', '1')
                 ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                [],
            )
            .map(drop)
            .map_err(self.err())
    }
}

fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image<'a>(path: &'a str, hash: &'a str, v: &'a [f32]) -> NewImage<'a> {
        NewImage { path, size: 10, mtime_ns: 1, hash, width: 4, height: 3, embedding: v }
    }

    #[test]
    fn round_trips_images_and_vectors() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(d.path()).unwrap();
        let (a, b) = c
            .write(|w| {
                w.bump_generation()?;
                Ok((w.upsert(&image("a.jpg", "h1", &[1.0, 0.0]), 5)?, w.upsert(&image("b/c.png", "h2", &[0.0, 1.0]), 5)?))
            })
            .unwrap();
        assert_eq!(c.count().unwrap(), 2);
        assert_eq!(c.vectors(2).unwrap(), (vec![a, b], vec![1.0, 0.0, 0.0, 1.0]));
        assert_eq!(c.embedding(b).unwrap(), Some(vec![0.0, 1.0]));
        assert_eq!(c.generation().unwrap(), 1);
        assert!(c.vectors(3).is_err(), "a wrong dimension is caught");
    }

    #[test]
    fn upsert_keeps_the_id_and_ids_are_never_reused() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(d.path()).unwrap();
        let a = c.write(|w| w.upsert(&image("a.jpg", "h1", &[1.0]), 1)).unwrap();
        let again = c.write(|w| w.upsert(&image("a.jpg", "h9", &[2.0]), 2)).unwrap();
        assert_eq!(a, again);
        c.write(|w| w.delete(a)).unwrap();
        let b = c.write(|w| w.upsert(&image("b.jpg", "h2", &[1.0]), 3)).unwrap();
        assert!(b > a);
    }

    #[test]
    fn a_failed_transaction_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(d.path()).unwrap();
        let r: Result<()> = c.write(|w| {
            w.upsert(&image("a.jpg", "h1", &[1.0]), 1)?;
            Err(EngineError::Usage("stop".into()))
        });
        assert!(r.is_err());
        assert_eq!(c.count().unwrap(), 0);
    }

    #[test]
    fn read_only_open_of_a_missing_index_says_so() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(Catalog::open_read_only(d.path()), Err(EngineError::NoIndex(_))));
    }
}
