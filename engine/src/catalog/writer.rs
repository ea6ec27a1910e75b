//! Writes inside a catalog transaction: images and their vectors, frames, moves, metadata,
//! skips, and the vector log every change to the set of vectors appends to.

use std::path::Path;

use rusqlite::{params, OptionalExtension};

use super::{
    rows::{db_error, frames_of, row_to_image, FrameRow, ImageRow, VideoSpan, IMAGE_COLUMNS},
    schema::{FRAME_IDS, UPSERT_META},
    vector_file::{VectorAppender, SLOTS_KEY},
};
use crate::{media::photo_meta::PhotoMeta, EngineError, Result};

/// Writes inside a [`Catalog::write`] transaction.
pub struct Writer<'a> {
    pub(super) tx: &'a rusqlite::Transaction<'a>,
    pub(super) path: &'a Path,
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
    /// Set for a motion photo: its clip's length (its vector is the still's).
    pub motion_ms: Option<i64>,
}

impl Writer<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
        db_error(self.path)
    }

    /// Inserts or replaces the image at `img.path` with `vector` appended to the vector file;
    /// returns its id (kept when replacing). The id goes into the vector log: its vector is new.
    /// Frames of its earlier content (a video's, a motion photo's) are removed: it adds its new
    /// ones after.
    pub fn upsert(&self, img: &NewImage<'_>, vector: &[f32], vectors: &mut VectorAppender, now: i64) -> Result<i64> {
        let (duration_ms, frame_ms) = match (img.video, img.motion_ms) {
            (Some(v), _) => (Some(v.duration_ms), Some(v.frame_ms)),
            (None, motion_ms) => (motion_ms, None), // see the schema: duration alone is a motion photo
        };
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
        // Any row may have had frames: a JPEG may have been a motion photo before.
        self.remove_frames(id)?;
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
