//! The catalog: one SQLite file that is the index's source of truth. Per image: path (relative to
//! the data folder), size, mtime, content hash, dimensions, when it was indexed and the slot of
//! its embedding in the vector file (see [`crate::catalog::vector_file`]); plus the model identity
//! and data root. Every change happens in a transaction (WAL mode), so a killed process leaves the
//! last committed state.
//!
//! Each change to the set of vectors (an image added, re-embedded or removed) also appends its
//! id to `vector_log` in the same transaction: the write-ahead record that brings an approximate
//! index snapshot up to date (see [`crate::store::snapshot`]).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::{
    media::photo_meta::{PhotoMeta, Taken, TakenSource},
    EngineError, Result,
};
use filter::Filter;
use vector_file::{VectorAppender, SLOTS_KEY};

pub mod filter;
pub mod identity;
mod upgrade;
pub mod vector_file;

/// File name of the catalog database inside the index folder.
pub const CATALOG_FILE: &str = "catalog.sqlite";

const UPSERT_META: &str =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/// Bumped when the schema changes; older formats are upgraded in place when opened for writing.
const FORMAT: &str = "4";

/// Vector ids of video frames beyond a video's first are this plus their `frames` row id: one id
/// space for the vector store, and never an image id (SQLite would need 2^40 inserts to get here).
pub const FRAME_IDS: i64 = 1 << 40;

const META: &str = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";

const SCHEMA: &str = "
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
    slot INTEGER NOT NULL,
    -- Photo metadata (format 3, see photo_meta.rs). taken_source NULL: not read yet (an
    -- upgraded catalog's rows until the next indexing run reads their files).
    taken INTEGER,
    taken_offset INTEGER,
    taken_source TEXT,
    camera_make TEXT,
    camera_model TEXT,
    lat REAL,
    lon REAL,
    -- Videos (format 4): the length, and the moment of the frame whose vector the row holds
    -- (the first kept one); NULL for photos. The video's other frames are in `frames`.
    duration_ms INTEGER,
    frame_ms INTEGER
);
CREATE INDEX IF NOT EXISTS images_by_hash ON images (hash);
CREATE INDEX IF NOT EXISTS images_by_taken ON images (taken);
-- Rows an upgrade left without metadata: every indexing run asks, so that must not scan the table.
CREATE INDEX IF NOT EXISTS images_without_meta ON images (id) WHERE taken_source IS NULL;
-- (slot, id) pairs without reading the rows: what a search process loads at start.
CREATE INDEX IF NOT EXISTS images_by_slot ON images (slot);
-- A video's kept frames after its first (video.rs samples them): each its own vector, with id
-- FRAME_IDS + id in the vector store. Removed with their video.
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video INTEGER NOT NULL,
    ms INTEGER NOT NULL,
    slot INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS frames_by_video ON frames (video);
-- Folder modification times at the last complete scan (see scan.rs).
CREATE TABLE IF NOT EXISTS folders (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
-- Ids whose vector was added, replaced or removed, in commit order.
CREATE TABLE IF NOT EXISTS vector_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL);
-- What a remote vector store (Milvus) was last confirmed to hold: each vector id and the
-- signature of its row's searchable fields (see store/milvus/sync.rs).
CREATE TABLE IF NOT EXISTS remote_rows (id INTEGER PRIMARY KEY, sig INTEGER NOT NULL);
-- Files that could not be read, so an unchanged broken file is not retried on every run.
CREATE TABLE IF NOT EXISTS skipped (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);
";

/// An image as the catalog knows it (without its embedding).
#[derive(Debug, Clone, PartialEq)]
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
    /// Where its embedding is in the vector file.
    pub slot: u64,
    /// Capture time, camera and location; `taken` is `None` only while an upgraded catalog's
    /// row waits for its file to be read.
    pub meta: PhotoMeta,
    /// Set for a video: its length and the moment of the frame this row's vector shows.
    pub video: Option<VideoSpan>,
}

/// What a video's row adds to a photo's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSpan {
    /// The video's length, in milliseconds.
    pub duration_ms: i64,
    /// The moment of the frame whose vector the row holds (the first kept frame), in milliseconds.
    pub frame_ms: i64,
}

/// One kept frame of a video: the moment and the frame's vector id (see [`FRAME_IDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRow {
    /// Its id in the vector store.
    pub vector_id: i64,
    /// The video's image id.
    pub video: i64,
    /// The moment, in milliseconds from the start.
    pub ms: i64,
    /// Where its vector is in the vector file.
    pub slot: u64,
}

/// One vector and the fields of its file that filters look at (a frame carries its video's).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRow {
    /// Its id in the vector store (an image's id, or a frame's: see [`FRAME_IDS`]).
    pub id: i64,
    /// Where its vector is in the vector file.
    pub slot: u64,
    /// The file's stored path.
    pub path: String,
    /// Capture time, wall-clock seconds (see [`crate::media::photo_meta::Taken::local`]).
    pub taken: Option<i64>,
    /// Upright width and height.
    pub width: u32,
    /// Upright height.
    pub height: u32,
    /// Whether the file has a GPS position.
    pub located: bool,
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
    /// Opens (creating if needed) the catalog in `index_dir` for writing; a catalog of an older
    /// format is upgraded in place first (embeddings move to the vector file, nothing is
    /// re-embedded).
    pub fn open(index_dir: &Path) -> Result<Catalog> {
        crate::support::index_folder::check(index_dir, crate::support::index_folder::Access::Write)?;
        let path = index_dir.join(CATALOG_FILE);
        let err = db_error(&path);
        let conn = Connection::open(&path).map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(&err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(&err)?;
        conn.execute_batch(META).map_err(&err)?;
        let mut catalog = Catalog { conn, path: path.clone() };
        match catalog.meta("format")?.as_deref() {
            None => catalog.set_meta("format", FORMAT)?,
            Some(FORMAT) => {}
            Some("1") => {
                upgrade::from_format_1(&mut catalog, index_dir)?;
                upgrade::from_format_2(&mut catalog)?;
                upgrade::from_format_3(&mut catalog)?;
            }
            Some("2") => {
                upgrade::from_format_2(&mut catalog)?;
                upgrade::from_format_3(&mut catalog)?;
            }
            Some("3") => upgrade::from_format_3(&mut catalog)?,
            Some(f) => {
                return Err(EngineError::Catalog {
                    path: catalog.path.clone(),
                    reason: format!("catalog format {f} is newer than this clipfind reads (format {FORMAT}); use a newer clipfind, or rebuild with --rebuild"),
                })
            }
        }
        catalog.conn.execute_batch(SCHEMA).map_err(&err)?;
        Ok(catalog)
    }

    /// Opens an existing catalog without ever writing to it.
    pub fn open_read_only(index_dir: &Path) -> Result<Catalog> {
        crate::support::index_folder::check(index_dir, crate::support::index_folder::Access::Read)?;
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
        let catalog = Catalog { conn, path };
        match catalog.meta("format")?.as_deref() {
            Some(FORMAT) => Ok(catalog),
            Some(old @ ("1" | "2" | "3")) => Err(EngineError::Catalog {
                path: catalog.path.clone(),
                reason: format!("this index was made by an older clipfind (catalog format {old}): run `clipfind index` once to upgrade it in place (nothing is re-embedded)"),
            }),
            other => Err(EngineError::Catalog { path: catalog.path.clone(), reason: format!("unknown catalog format {other:?}") }),
        }
    }

    /// Whether the catalog in `index_dir` is of an older format that [`Catalog::open`] upgrades.
    pub fn needs_upgrade(index_dir: &Path) -> bool {
        let path = index_dir.join(CATALOG_FILE);
        let format = |conn: Connection| conn.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get::<_, String>(0));
        path.is_file() && open_shared_read_only(&path).and_then(format).is_ok_and(|f| matches!(f.as_str(), "1" | "2" | "3"))
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

    /// Number of indexed images whose path starts with `prefix`.
    pub fn count_under(&self, prefix: &str) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM images WHERE substr(path, 1, length(?1)) = ?1", [prefix], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_error(&self.path))
    }

    /// Every indexed image, in id order.
    pub fn images(&self) -> Result<Vec<ImageRow>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare(&format!("SELECT {IMAGE_COLUMNS} FROM images ORDER BY id")).map_err(&err)?;
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

    /// Calls `f` with each indexed image in path order (byte order, as Rust compares strings),
    /// one row at a time: a scan of a million files is compared without collecting the rows.
    pub fn each_by_path(&self, mut f: impl FnMut(StoredFile<'_>) -> Result<()>) -> Result<()> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare(&format!("SELECT {IMAGE_COLUMNS} FROM images ORDER BY path")).map_err(&err)?;
        let mut rows = stmt.query([]).map_err(&err)?;
        while let Some(row) = rows.next().map_err(&err)? {
            f(StoredFile { row, path: &self.path })?;
        }
        Ok(())
    }

    /// Folder modification times recorded by the last complete scan.
    pub fn folders(&self) -> Result<HashMap<String, i64>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare("SELECT path, mtime_ns FROM folders").map_err(&err)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    /// Whether an indexed image has content hash `hash`.
    pub fn has_hash(&self, hash: &str) -> Result<bool> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare_cached("SELECT 1 FROM images WHERE hash = ?1 LIMIT 1").map_err(&err)?;
        stmt.exists([hash]).map_err(&err)
    }

    /// The image with catalog id `id`, if there is one (a prepared statement: searches ask
    /// for a few ids each).
    pub fn image(&self, id: i64) -> Result<Option<ImageRow>> {
        self.image_where("id", id)
    }

    /// The frame with vector id `vector_id` (at least [`FRAME_IDS`]), if there is one.
    pub fn frame(&self, vector_id: i64) -> Result<Option<FrameRow>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare_cached("SELECT id, video, ms, slot FROM frames WHERE id = ?1").map_err(&err)?;
        stmt.query_row([vector_id - FRAME_IDS], row_to_frame).optional().map_err(&err)
    }

    /// The frames of video `video` after its first, in time order.
    pub fn frames_of(&self, video: i64) -> Result<Vec<FrameRow>> {
        frames_of(&self.conn, &self.path, video)
    }

    /// The image at `path` (relative to the data folder, `/`-separated), if it is indexed.
    pub fn image_at(&self, path: &str) -> Result<Option<ImageRow>> {
        self.image_where("path", path)
    }

    fn image_where(&self, column: &str, value: impl rusqlite::ToSql) -> Result<Option<ImageRow>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {IMAGE_COLUMNS} FROM images WHERE {column} = ?1")).map_err(&err)?;
        stmt.query_row([value], row_to_image).optional().map_err(&err)
    }

    /// The vector ids of the images `filter` keeps (a kept video's frames with it), in id order.
    pub fn ids_matching(&self, filter: &Filter) -> Result<Vec<i64>> {
        let err = db_error(&self.path);
        let (condition, values) = filter.sql();
        let sql = format!(
            "WITH kept AS (SELECT id FROM images WHERE {condition})
             SELECT id FROM kept UNION ALL SELECT id + {FRAME_IDS} FROM frames WHERE video IN (SELECT id FROM kept) ORDER BY 1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| r.get(0)).map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// Up to `limit` images whose metadata was never read (an upgraded catalog): id, path and
    /// mtime (the fallback capture time).
    pub fn without_photo_meta(&self, limit: usize) -> Result<Vec<(i64, String, i64)>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare_cached("SELECT id, path, mtime_ns FROM images WHERE taken_source IS NULL LIMIT ?1").map_err(&err)?;
        let rows = stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// Number of vectors: one per image, plus each video's frames after its first.
    pub fn vector_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT (SELECT COUNT(*) FROM images) + (SELECT COUNT(*) FROM frames)", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_error(&self.path))
    }

    /// Every (vector id, slot) pair, images' and frames', in slot order, read from indexes rather
    /// than the rows.
    pub fn slots(&self) -> Result<Vec<(i64, u64)>> {
        let err = db_error(&self.path);
        let sql = format!("SELECT id, slot FROM images UNION ALL SELECT id + {FRAME_IDS}, slot FROM frames ORDER BY 2");
        let mut stmt = self.conn.prepare(&sql).map_err(&err)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))).map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// Every vector with its file's filterable fields, images' and frames', in id order.
    pub fn vector_rows(&self) -> Result<Vec<VectorRow>> {
        let err = db_error(&self.path);
        let sql = format!(
            "SELECT id, slot, path, taken, width, height, lat IS NOT NULL FROM images
             UNION ALL
             SELECT f.id + {FRAME_IDS}, f.slot, i.path, i.taken, i.width, i.height, i.lat IS NOT NULL FROM frames f JOIN images i ON i.id = f.video
             ORDER BY 1"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(VectorRow { id: r.get(0)?, slot: r.get::<_, i64>(1)? as u64, path: r.get(2)?, taken: r.get(3)?, width: r.get(4)?, height: r.get(5)?, located: r.get(6)? })
            })
            .map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// The highest image id and frame vector id ever given out (ids are never reused), or 0.
    pub fn highest_ids(&self) -> Result<(i64, i64)> {
        let err = db_error(&self.path);
        let of = |table: &str| -> Result<i64> {
            self.conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?1", [table], |r| r.get(0))
                .map_err(&err)
        };
        Ok((of("images")?, of("frames")? + FRAME_IDS))
    }

    /// What the remote vector store was last confirmed to hold: vector id → row signature.
    pub fn remote_rows(&self) -> Result<HashMap<i64, i64>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare("SELECT id, sig FROM remote_rows").map_err(&err)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<HashMap<_, _>>>().map_err(&err)
    }

    /// The position of the last change in the vector log (0 when it is empty).
    pub fn log_position(&self) -> Result<i64> {
        self.conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM vector_log", [], |r| r.get(0)).map_err(db_error(&self.path))
    }

    /// The ids whose vector changed after log position `seq`, each once.
    pub fn logged_since(&self, seq: i64) -> Result<Vec<i64>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare("SELECT DISTINCT id FROM vector_log WHERE seq > ?1").map_err(&err)?;
        let rows = stmt.query_map([seq], |r| r.get(0)).map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// Runs `f` in one read transaction: everything it reads is from the same committed state,
    /// even while another process writes.
    pub fn read<T>(&self, f: impl FnOnce(&Catalog) -> Result<T>) -> Result<T> {
        let err = db_error(&self.path);
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let out = f(self)?;
        tx.commit().map_err(&err)?;
        Ok(out)
    }

    /// Runs `f` in one transaction that may append to `vectors`: the appended vectors are synced
    /// to disk before the rows that point at them are committed.
    pub fn write_vectors<T>(&mut self, vectors: &mut VectorAppender, f: impl FnOnce(&Writer<'_>, &mut VectorAppender) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_error(&path))?;
        let out = f(&Writer { tx: &tx, path: &path }, vectors)?;
        vectors.sync()?;
        crate::support::killpoint::reached("vectors-synced");
        tx.commit().map_err(db_error(&path))?;
        crate::support::killpoint::reached("catalog-committed");
        Ok(out)
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

/// One row of [`Catalog::each_by_path`]: what a scan compares, read without copying, and the
/// whole row on demand.
pub struct StoredFile<'a> {
    row: &'a rusqlite::Row<'a>,
    path: &'a Path,
}

impl StoredFile<'_> {
    /// Path relative to the data folder.
    pub fn path(&self) -> Result<&str> {
        self.row.get_ref(1).and_then(|v| v.as_str().map_err(Into::into)).map_err(db_error(self.path))
    }

    /// Size in bytes and mtime in nanoseconds when last indexed.
    pub fn size_and_mtime(&self) -> Result<(u64, i64)> {
        let size: i64 = self.row.get(2).map_err(db_error(self.path))?;
        Ok((size as u64, self.row.get(3).map_err(db_error(self.path))?))
    }

    /// The whole row.
    pub fn row(&self) -> Result<ImageRow> {
        row_to_image(self.row).map_err(db_error(self.path))
    }
}

const IMAGE_COLUMNS: &str =
    "id, path, size, mtime_ns, hash, width, height, indexed_at, slot, taken, taken_offset, taken_source, camera_make, camera_model, lat, lon, duration_ms, frame_ms";

fn row_to_frame(r: &rusqlite::Row<'_>) -> rusqlite::Result<FrameRow> {
    Ok(FrameRow { vector_id: r.get::<_, i64>(0)? + FRAME_IDS, video: r.get(1)?, ms: r.get(2)?, slot: r.get::<_, i64>(3)? as u64 })
}

fn frames_of(conn: &Connection, path: &Path, video: i64) -> Result<Vec<FrameRow>> {
    let err = db_error(path);
    let mut stmt = conn.prepare_cached("SELECT id, video, ms, slot FROM frames WHERE video = ?1 ORDER BY ms").map_err(&err)?;
    let rows = stmt.query_map([video], row_to_frame).map_err(&err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
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
        slot: r.get::<_, i64>(8)? as u64,
        meta: row_to_meta(r, 9)?,
        video: match (r.get::<_, Option<i64>>(16)?, r.get::<_, Option<i64>>(17)?) {
            (Some(duration_ms), Some(frame_ms)) => Some(VideoSpan { duration_ms, frame_ms }),
            _ => None,
        },
    })
}

/// The metadata columns starting at `first` (in [`IMAGE_COLUMNS`] order).
fn row_to_meta(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<PhotoMeta> {
    let source: Option<String> = r.get(first + 2)?;
    let taken = match (r.get::<_, Option<i64>>(first)?, source.as_deref().and_then(TakenSource::parse)) {
        (Some(local), Some(source)) => Some(Taken { local, offset_minutes: r.get(first + 1)?, source }),
        _ => None,
    };
    let location = match (r.get::<_, Option<f64>>(first + 5)?, r.get::<_, Option<f64>>(first + 6)?) {
        (Some(lat), Some(lon)) => Some((lat, lon)),
        _ => None,
    };
    Ok(PhotoMeta { taken, camera_make: r.get(first + 3)?, camera_model: r.get(first + 4)?, location })
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
    /// Capture time (EXIF or the file's time), camera and location.
    pub meta: &'a PhotoMeta,
    /// Set for a video (its vector is then its first kept frame's).
    pub video: Option<VideoSpan>,
}

impl Writer<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
        db_error(self.path)
    }

    /// Inserts or replaces the image at `img.path` with `vector` appended to the vector file;
    /// returns its id (kept when replacing). The id goes into the vector log: its vector is new.
    /// A video's frames from its earlier content are removed (it adds its new ones after).
    pub fn upsert(&self, img: &NewImage<'_>, vector: &[f32], vectors: &mut VectorAppender, now: i64) -> Result<i64> {
        let (duration_ms, frame_ms) = img.video.map(|v| (v.duration_ms, v.frame_ms)).unzip();
        let id: i64 = self
            .tx
            .query_row(
                "INSERT INTO images (path, size, mtime_ns, hash, width, height, indexed_at, slot, duration_ms, frame_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, -1, ?8, ?9)
                 ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                   hash = excluded.hash, width = excluded.width, height = excluded.height,
                   indexed_at = excluded.indexed_at, duration_ms = excluded.duration_ms, frame_ms = excluded.frame_ms
                 RETURNING id",
                params![img.path, img.size as i64, img.mtime_ns, img.hash, img.width, img.height, now, duration_ms, frame_ms],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        self.set_photo_meta(id, img.meta)?;
        // The record names its image, so the id comes first and the slot after.
        let slot = vectors.append(id, vector)?;
        self.set_slot(id, slot)?;
        // A path keeps its extension, so only a video's row can have had frames.
        if img.video.is_some() {
            self.remove_frames(id)?;
        }
        self.set_meta(SLOTS_KEY, &vectors.slots().to_string())?;
        self.log(id)?;
        Ok(id)
    }

    /// Stores the frames of video `video` after its first: (moment in ms, embedding) each, with
    /// its vector appended and logged.
    pub fn add_frames(&self, video: i64, frames: &[(i64, &[f32])], vectors: &mut VectorAppender) -> Result<()> {
        let mut insert = self.tx.prepare_cached("INSERT INTO frames (video, ms, slot) VALUES (?1, ?2, -1) RETURNING id").map_err(self.err())?;
        for (ms, vector) in frames {
            let vector_id = insert.query_row(params![video, ms], |r| r.get::<_, i64>(0)).map_err(self.err())? + FRAME_IDS;
            let slot = vectors.append(vector_id, vector)?;
            self.set_slot(vector_id, slot)?;
            self.log(vector_id)?;
        }
        self.set_meta(SLOTS_KEY, &vectors.slots().to_string())
    }

    /// The frames of video `video` after its first, in time order.
    pub fn frames_of(&self, video: i64) -> Result<Vec<FrameRow>> {
        frames_of(self.tx, self.path, video)
    }

    /// Removes the frames of video `video` (none for a photo), logging each.
    fn remove_frames(&self, video: i64) -> Result<()> {
        let mut remove = self.tx.prepare_cached("DELETE FROM frames WHERE video = ?1 RETURNING id").map_err(self.err())?;
        let removed = remove.query_map([video], |r| r.get::<_, i64>(0)).map_err(self.err())?.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())?;
        removed.into_iter().try_for_each(|id| self.log(id + FRAME_IDS))
    }

    fn log(&self, id: i64) -> Result<()> {
        self.tx.execute("INSERT INTO vector_log (id) VALUES (?1)", [id]).map(drop).map_err(self.err())
    }

    /// A rename or move: same content, new path; the embedding and id stay.
    pub fn move_image(&self, id: i64, new_path: &str, size: u64, mtime_ns: i64) -> Result<()> {
        self.tx
            .execute("UPDATE images SET path = ?2, size = ?3, mtime_ns = ?4 WHERE id = ?1", params![id, new_path, size as i64, mtime_ns])
            .map(drop)
            .map_err(self.err())
    }

    /// Stores image `id`'s capture time, camera and location.
    pub fn set_photo_meta(&self, id: i64, meta: &PhotoMeta) -> Result<()> {
        let taken = meta.taken.as_ref();
        let (lat, lon) = meta.location.unzip();
        let mut stmt = self
            .tx
            .prepare_cached(
                "UPDATE images SET taken = ?2, taken_offset = ?3, taken_source = ?4, camera_make = ?5, camera_model = ?6, lat = ?7, lon = ?8
                 WHERE id = ?1",
            )
            .map_err(self.err())?;
        stmt.execute(params![
            id,
            taken.map(|t| t.local),
            taken.and_then(|t| t.offset_minutes),
            taken.map(|t| t.source.as_str()),
            meta.camera_make,
            meta.camera_model,
            lat,
            lon
        ])
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

    /// Removes image `id` (its id is never given to another image) and a video's frames, logging them.
    pub fn delete(&self, id: i64) -> Result<()> {
        self.tx.execute("DELETE FROM images WHERE id = ?1", [id]).map(drop).map_err(self.err())?;
        self.remove_frames(id)?;
        self.log(id)
    }

    /// Removes every image, unreadable-file record and logged change, and forgets the vector
    /// index built on them; the rest of the meta table is kept.
    pub fn delete_all(&self) -> Result<()> {
        self.tx
            .execute_batch("DELETE FROM images; DELETE FROM frames; DELETE FROM skipped; DELETE FROM vector_log; DELETE FROM folders; DELETE FROM meta WHERE key LIKE 'ann_%';")
            .map_err(self.err())
    }

    /// Rewrites the start of stored paths, `from` → `to` for each pair (`from` empty: every
    /// path that does not start with `/`), and forgets folder times and unreadable-file records,
    /// which name paths the old way. Renamed in two steps through `//`, a start no stored path
    /// has, so that no intermediate path collides with another.
    pub fn rename_prefixes(&self, renames: &[(String, String)]) -> Result<()> {
        for (from, to) in renames {
            let sql = match from.is_empty() {
                true => "UPDATE images SET path = '//' || ?2 || path WHERE substr(path, 1, 1) <> '/'",
                false => "UPDATE images SET path = '//' || ?2 || substr(path, length(?1) + 1) WHERE substr(path, 1, length(?1)) = ?1",
            };
            self.tx.execute(sql, [from, to]).map_err(self.err())?;
        }
        self.tx
            .execute_batch("UPDATE images SET path = substr(path, 3) WHERE substr(path, 1, 2) = '//'; DELETE FROM folders; DELETE FROM skipped;")
            .map_err(self.err())?;
        self.bump_generation()
    }

    /// Replaces the recorded folder modification times.
    pub fn set_folders(&self, folders: &[(String, i64)]) -> Result<()> {
        self.tx.execute("DELETE FROM folders", []).map_err(self.err())?;
        let mut stmt = self.tx.prepare_cached("INSERT OR REPLACE INTO folders (path, mtime_ns) VALUES (?1, ?2)").map_err(self.err())?;
        for (path, mtime) in folders {
            stmt.execute(params![path, mtime]).map_err(self.err())?;
        }
        Ok(())
    }

    /// Records that the remote vector store holds these (vector id, row signature) pairs.
    pub fn set_remote_rows(&self, rows: &[(i64, i64)]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached("INSERT OR REPLACE INTO remote_rows (id, sig) VALUES (?1, ?2)").map_err(self.err())?;
        for (id, sig) in rows {
            stmt.execute(params![id, sig]).map_err(self.err())?;
        }
        Ok(())
    }

    /// Records that the remote vector store no longer holds these vector ids.
    pub fn forget_remote_rows(&self, ids: &[i64]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached("DELETE FROM remote_rows WHERE id = ?1").map_err(self.err())?;
        for id in ids {
            stmt.execute([id]).map_err(self.err())?;
        }
        Ok(())
    }

    /// Forgets everything recorded of the remote vector store.
    pub fn clear_remote_rows(&self) -> Result<()> {
        self.tx.execute("DELETE FROM remote_rows", []).map(drop).map_err(self.err())
    }

    /// Forgets the logged changes up to `seq` (a snapshot now holds them), or all of them.
    pub fn trim_log(&self, seq: Option<i64>) -> Result<()> {
        self.tx.execute("DELETE FROM vector_log WHERE seq <= ?1", [seq.unwrap_or(i64::MAX)]).map(drop).map_err(self.err())
    }

    /// Moves vector `id`'s vector (an image's, or a frame's: see [`FRAME_IDS`]) to `slot` (a
    /// compaction); the vector itself is unchanged.
    pub fn set_slot(&self, id: i64, slot: u64) -> Result<()> {
        let (sql, row) = match id >= FRAME_IDS {
            true => ("UPDATE frames SET slot = ?2 WHERE id = ?1", id - FRAME_IDS),
            false => ("UPDATE images SET slot = ?2 WHERE id = ?1", id),
        };
        let mut stmt = self.tx.prepare_cached(sql).map_err(self.err())?;
        stmt.execute(params![row, slot as i64]).map(drop).map_err(self.err())
    }

    /// An indexed image whose content hash is `hash`.
    pub fn image_of_hash(&self, hash: &str) -> Result<Option<ImageRow>> {
        let mut stmt = self.tx.prepare_cached(&format!("SELECT {IMAGE_COLUMNS} FROM images WHERE hash = ?1 LIMIT 1")).map_err(self.err())?;
        stmt.query_row([hash], row_to_image).optional().map_err(self.err())
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

    /// Removes `key` from the meta table, as part of this transaction.
    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.tx.execute("DELETE FROM meta WHERE key = ?1", [key]).map(drop).map_err(self.err())
    }

    /// Marks the vectors as changed (searchers compare it to notice a new index).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::vector_file::MappedVectors;

    fn image<'a>(path: &'a str, hash: &'a str) -> NewImage<'a> {
        static NONE: PhotoMeta = PhotoMeta { taken: None, camera_make: None, camera_model: None, location: None };
        NewImage { path, size: 10, mtime_ns: 1, hash, width: 4, height: 3, meta: &NONE, video: None }
    }

    fn open(d: &Path) -> (Catalog, VectorAppender) {
        (Catalog::open(d).unwrap(), VectorAppender::open(&d.join("v.f32"), 0, 2).unwrap())
    }

    #[test]
    fn round_trips_images_slots_and_the_log() {
        let d = tempfile::tempdir().unwrap();
        let (mut c, mut v) = open(d.path());
        let (a, b) = c
            .write_vectors(&mut v, |w, v| {
                w.bump_generation()?;
                Ok((w.upsert(&image("a.jpg", "h1"), &[1.0, 0.0], v, 5)?, w.upsert(&image("b/c.png", "h2"), &[0.0, 1.0], v, 5)?))
            })
            .unwrap();
        assert_eq!(c.count().unwrap(), 2);
        assert_eq!(c.slots().unwrap(), vec![(a, 0), (b, 1)]);
        assert_eq!(c.image(b).unwrap().unwrap().path, "b/c.png");
        assert_eq!(c.image_at("a.jpg").unwrap().unwrap().id, a);
        assert_eq!(c.meta(SLOTS_KEY).unwrap().as_deref(), Some("2"));
        assert_eq!(MappedVectors::open(&d.path().join("v.f32"), 2, 2).unwrap().vector(1, b).unwrap(), [0.0, 1.0]);
        assert_eq!(c.generation().unwrap(), 1);
        let mut logged = c.logged_since(0).unwrap();
        logged.sort();
        assert_eq!(logged, vec![a, b]);
        let pos = c.log_position().unwrap();
        c.write(|w| w.trim_log(Some(pos))).unwrap();
        assert!(c.logged_since(0).unwrap().is_empty());
        c.write(|w| w.delete(a)).unwrap();
        assert_eq!(c.logged_since(pos).unwrap(), vec![a], "a removal is logged");
    }

    #[test]
    fn upsert_keeps_the_id_and_ids_are_never_reused() {
        let d = tempfile::tempdir().unwrap();
        let (mut c, mut v) = open(d.path());
        let a = c.write_vectors(&mut v, |w, v| w.upsert(&image("a.jpg", "h1"), &[1.0, 0.0], v, 1)).unwrap();
        let again = c.write_vectors(&mut v, |w, v| w.upsert(&image("a.jpg", "h9"), &[0.0, 1.0], v, 2)).unwrap();
        assert_eq!(a, again);
        assert_eq!(c.image(a).unwrap().unwrap().slot, 1, "a new vector goes into a new slot");
        c.write(|w| w.delete(a)).unwrap();
        let b = c.write_vectors(&mut v, |w, v| w.upsert(&image("b.jpg", "h2"), &[1.0, 0.0], v, 3)).unwrap();
        assert!(b > a);
    }

    #[test]
    fn a_failed_transaction_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let (mut c, mut v) = open(d.path());
        let r: Result<()> = c.write_vectors(&mut v, |w, v| {
            w.upsert(&image("a.jpg", "h1"), &[1.0, 0.0], v, 1)?;
            Err(EngineError::Usage("stop".into()))
        });
        assert!(r.is_err());
        assert_eq!(c.count().unwrap(), 0);
        assert_eq!(c.meta(SLOTS_KEY).unwrap(), None, "the appended vector is not committed");
    }

    #[test]
    fn read_only_open_of_a_missing_index_says_so() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(Catalog::open_read_only(d.path()), Err(EngineError::NoIndex(_))));
    }

    #[test]
    fn a_format_1_catalog_is_upgraded_in_place() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/format1-index");
        let d = tempfile::tempdir().unwrap();
        for file in ["catalog.sqlite", "vectors.faiss"] {
            std::fs::copy(fixture.join(file), d.path().join(file)).unwrap();
        }
        assert!(Catalog::needs_upgrade(d.path()));
        let err = Catalog::open_read_only(d.path()).err().unwrap().to_string();
        assert!(err.contains("run `clipfind index` once to upgrade"), "{err}");
        let c = Catalog::open(d.path()).unwrap();
        assert!(!Catalog::needs_upgrade(d.path()));
        assert_eq!(c.meta("format").unwrap().as_deref(), Some(FORMAT));
        assert_eq!(c.meta("factory").unwrap().as_deref(), Some("auto"));
        assert!(!d.path().join("vectors.faiss").exists());
        let slots = c.slots().unwrap();
        assert_eq!(slots.len(), 14);
        let file = d.path().join(c.meta(vector_file_key()).unwrap().unwrap());
        let mapped = MappedVectors::open(&file, 14, 512).unwrap();
        for (id, slot) in slots {
            let norm: f32 = mapped.vector(slot, id).unwrap().iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-4, "image {id} kept its unit embedding");
        }
    }

    fn vector_file_key() -> &'static str {
        crate::catalog::vector_file::FILE_KEY
    }
}
