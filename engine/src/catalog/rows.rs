//! What the catalog hands out: rows of images, video frames, vectors and skipped files, and how
//! they are read from SQLite.

use std::path::Path;

use rusqlite::Connection;

use super::schema::FRAME_IDS;
use crate::{
    media::photo_meta::{PhotoMeta, Taken, TakenSource},
    EngineError, Result,
};

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
    /// Set for a motion photo (a still whose file holds a short clip): the clip's length in
    /// milliseconds. The row's vector is the still's; the clip's frames are its `frames`.
    pub motion_ms: Option<i64>,
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


/// One row of [`Catalog::each_by_path`]: what a scan compares, read without copying, and the
/// whole row on demand.
pub struct StoredFile<'a> {
    pub(super) row: &'a rusqlite::Row<'a>,
    pub(super) path: &'a Path,
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

pub(super) const IMAGE_COLUMNS: &str =
    "id, path, size, mtime_ns, hash, width, height, indexed_at, slot, taken, taken_offset, taken_source, camera_make, camera_model, lat, lon, duration_ms, frame_ms";

pub(super) fn row_to_frame(r: &rusqlite::Row<'_>) -> rusqlite::Result<FrameRow> {
    Ok(FrameRow { vector_id: r.get::<_, i64>(0)? + FRAME_IDS, video: r.get(1)?, ms: r.get(2)?, slot: r.get::<_, i64>(3)? as u64 })
}

pub(super) fn frames_of(conn: &Connection, path: &Path, video: i64) -> Result<Vec<FrameRow>> {
    let err = db_error(path);
    let mut stmt = conn.prepare_cached("SELECT id, video, ms, slot FROM frames WHERE video = ?1 ORDER BY ms").map_err(&err)?;
    let rows = stmt.query_map([video], row_to_frame).map_err(&err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
}

pub(super) fn row_to_image(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
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
        motion_ms: match (r.get::<_, Option<i64>>(16)?, r.get::<_, Option<i64>>(17)?) {
            (Some(duration_ms), None) => Some(duration_ms),
            _ => None,
        },
    })
}

/// The metadata columns starting at `first` (in [`IMAGE_COLUMNS`] order).
pub(super) fn row_to_meta(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<PhotoMeta> {
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

/// Turns a SQLite error into the engine's, naming the catalog file.
pub(super) fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
    move |source| EngineError::Database { path: path.to_path_buf(), source }
}
