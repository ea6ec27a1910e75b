//! An open catalog: opened read-write (upgraded in place when old) or read-only, the queries
//! that read it, and the transactions writers run in.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{
    filter::Filter,
    rows::{db_error, frames_of, row_to_frame, row_to_image, FrameRow, ImageRow, SkippedRow, StoredFile, VectorRow, IMAGE_COLUMNS},
    schema::{CATALOG_FILE, FORMAT, FRAME_IDS, OLDER_FORMATS, UPSERT_META},
    vector_file::VectorAppender,
    writer::Writer,
};
use crate::{EngineError, Result};

/// An open catalog database (read-write from [`Catalog::open`], or read-only).
pub struct Catalog {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
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


impl Catalog {
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
            Some(old) if OLDER_FORMATS.contains(&old) => Err(EngineError::Catalog {
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
        path.is_file() && open_shared_read_only(&path).and_then(format).is_ok_and(|f| OLDER_FORMATS.contains(&f.as_str()))
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

#[cfg(test)]
mod tests {
    use super::super::{writer::NewImage, vector_file::SLOTS_KEY};
    use crate::media::photo_meta::PhotoMeta;
    use super::*;
    use crate::catalog::vector_file::MappedVectors;

    fn image<'a>(path: &'a str, hash: &'a str) -> NewImage<'a> {
        static NONE: PhotoMeta = PhotoMeta { taken: None, camera_make: None, camera_model: None, location: None };
        NewImage { path, size: 10, mtime_ns: 1, hash, width: 4, height: 3, meta: &NONE, video: None, motion_ms: None }
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
        assert_eq!(c.paths_containing("portrait", 5).unwrap().len(), 1, "the names index holds the old rows");
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
