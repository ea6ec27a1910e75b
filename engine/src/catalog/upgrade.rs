//! Upgrading an older catalog in place, without re-embedding anything: each step takes one
//! format to the next ([`to_current`] runs them in order).
//!
//! Format 6 indexes the files' paths for substring search (the `names` table of the schema),
//! built from the paths in one statement.
//!
//! Format 5 adds the words read in images: new tables only, made with the rest of the schema; the
//! next indexing run reads the words of every image (see [`crate::ingest::indexer`]).
//!
//! Format 4 adds videos: two columns of `images` and the `frames` table.
//!
//! Format 3 adds each photo's metadata (capture time, camera, location). The upgrade adds the
//! columns, empty, in one transaction; the next indexing run reads the files' metadata (their
//! headers, not their pixels) and fills them in.
//!
//! Format 1 kept each embedding as a BLOB in its row (SQLite overflow pages: about 4 KB an image)
//! and a full FAISS copy beside it. Format 2 moves the embeddings into the vector file, gives each
//! row its slot, and starts the vector log. The vector file is written and synced first; the
//! schema change, the slots and the new format are one transaction, so a kill at any step leaves
//! either the old catalog (upgraded again on the next open) or the new one.

use std::path::Path;

use rusqlite::params;

use super::{connection::Catalog, rows::db_error};
use crate::{
    catalog::vector_file::{self, VectorAppender, FILE_KEY, SLOTS_KEY},
    support::killpoint,
    EngineError, Result,
};

/// The FAISS file format 1 kept beside the catalog; its vectors are in the vector file now.
const FORMAT_1_FAISS: &str = "vectors.faiss";

fn from_format_1(catalog: &mut Catalog, index_dir: &Path) -> Result<()> {
    let err = db_error(&catalog.path);
    let dim = dimension(catalog)?;
    let file = vector_file::file_name(1);
    let mut vectors = VectorAppender::open(&index_dir.join(&file), 0, dim)?;
    let ids = copy_embeddings(catalog, &mut vectors, dim)?;
    vectors.sync()?;
    killpoint::reached("upgrade-vectors-written");
    let last_indexed: i64 = catalog.conn.query_row("SELECT COALESCE(MAX(indexed_at), 0) FROM images", [], |r| r.get(0)).map_err(&err)?;
    let tx = catalog.conn.transaction().map_err(&err)?;
    tx.execute_batch("ALTER TABLE images ADD COLUMN slot INTEGER NOT NULL DEFAULT -1").map_err(&err)?;
    {
        let mut set_slot = tx.prepare("UPDATE images SET slot = ?2 WHERE id = ?1").map_err(&err)?;
        for (slot, id) in ids.iter().enumerate() {
            set_slot.execute(params![id, slot as i64]).map_err(&err)?;
        }
    }
    tx.execute_batch("ALTER TABLE images DROP COLUMN embedding").map_err(&err)?;
    let upsert = "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    for (key, value) in [
        ("format", "2".to_string()),
        (FILE_KEY, file),
        (SLOTS_KEY, ids.len().to_string()),
        ("last_indexed", last_indexed.to_string()),
    ] {
        tx.execute(upsert, params![key, value]).map_err(&err)?;
    }
    // Format 1 stored its default as "Flat"; choosing by size is the default now.
    tx.execute("UPDATE meta SET value = 'auto' WHERE key = 'factory' AND value = 'Flat'", []).map_err(&err)?;
    tx.execute("DELETE FROM meta WHERE key = 'vectors_generation'", []).map_err(&err)?;
    tx.commit().map_err(&err)?;
    killpoint::reached("upgrade-committed");
    let _ = std::fs::remove_file(index_dir.join(FORMAT_1_FAISS));
    // The embeddings' overflow pages are free now: give the space back.
    catalog.conn.execute_batch("VACUUM").map_err(&err)?;
    tracing::info!("upgraded the catalog from format 1: {} embeddings moved to the vector file", ids.len());
    Ok(())
}

/// Adds the photo metadata columns, empty until the indexer reads each file's metadata.
fn from_format_2(catalog: &mut Catalog) -> Result<()> {
    let err = db_error(&catalog.path);
    let tx = catalog.conn.transaction().map_err(&err)?;
    tx.execute_batch(
        "ALTER TABLE images ADD COLUMN taken INTEGER;
         ALTER TABLE images ADD COLUMN taken_offset INTEGER;
         ALTER TABLE images ADD COLUMN taken_source TEXT;
         ALTER TABLE images ADD COLUMN camera_make TEXT;
         ALTER TABLE images ADD COLUMN camera_model TEXT;
         ALTER TABLE images ADD COLUMN lat REAL;
         ALTER TABLE images ADD COLUMN lon REAL;",
    )
    .map_err(&err)?;
    tx.execute("UPDATE meta SET value = '3' WHERE key = 'format'", []).map_err(&err)?;
    tx.commit().map_err(&err)?;
    tracing::info!("upgraded the catalog from format 2: photo metadata is read on the next indexing run");
    Ok(())
}

/// Adds the video columns (NULL: every row of an older catalog is a photo); the frames table is
/// created with the rest of the schema.
fn from_format_3(catalog: &mut Catalog) -> Result<()> {
    let err = db_error(&catalog.path);
    let tx = catalog.conn.transaction().map_err(&err)?;
    tx.execute_batch("ALTER TABLE images ADD COLUMN duration_ms INTEGER; ALTER TABLE images ADD COLUMN frame_ms INTEGER;").map_err(&err)?;
    tx.execute("UPDATE meta SET value = '4' WHERE key = 'format'", []).map_err(&err)?;
    tx.commit().map_err(&err)?;
    tracing::info!("upgraded the catalog from format 3: it can hold videos now");
    Ok(())
}

/// Takes a catalog of format `from` to the current one, a step at a time.
pub(super) fn to_current(catalog: &mut Catalog, index_dir: &Path, from: &str) -> Result<()> {
    let steps: [(&str, &dyn Fn(&mut Catalog) -> Result<()>); 5] = [
        ("1", &|c| from_format_1(c, index_dir)),
        ("2", &from_format_2),
        ("3", &from_format_3),
        ("4", &from_format_4),
        ("5", &from_format_5),
    ];
    let first = steps.iter().position(|(format, _)| *format == from).expect("an older format");
    steps[first..].iter().try_for_each(|(_, step)| step(catalog))
}

/// Marks the catalog as one that holds words; their tables come with the schema.
fn from_format_4(catalog: &mut Catalog) -> Result<()> {
    catalog.set_meta("format", "5")?;
    tracing::info!("upgraded the catalog from format 4: the next indexing run reads the words in its images");
    Ok(())
}

/// Indexes every path for substring search, in one transaction with the new format.
fn from_format_5(catalog: &mut Catalog) -> Result<()> {
    let err = db_error(&catalog.path);
    let tx = catalog.conn.transaction().map_err(&err)?;
    tx.execute_batch(super::schema::NAMES).map_err(&err)?;
    tx.execute("INSERT INTO names (names) VALUES ('rebuild')", []).map_err(&err)?;
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'format'", [super::schema::FORMAT]).map_err(&err)?;
    tx.commit().map_err(&err)?;
    tracing::info!("upgraded the catalog from format 5: file names are found by any part of them");
    Ok(())
}

/// Floats per embedding: recorded by format 1, or read off the first BLOB.
fn dimension(catalog: &Catalog) -> Result<usize> {
    if let Some(dim) = catalog.meta("dim")?.and_then(|d| d.parse().ok()) {
        return Ok(dim);
    }
    let bytes: Option<i64> = catalog
        .conn
        .query_row("SELECT length(embedding) FROM images LIMIT 1", [], |r| r.get(0))
        .map_err(db_error(&catalog.path))
        .ok();
    Ok(bytes.map_or(0, |b| b as usize / 4))
}

/// Appends every embedding in id order; returns the ids (slot i holds ids[i]).
fn copy_embeddings(catalog: &Catalog, vectors: &mut VectorAppender, dim: usize) -> Result<Vec<i64>> {
    let err = db_error(&catalog.path);
    let mut stmt = catalog.conn.prepare("SELECT id, embedding FROM images ORDER BY id").map_err(&err)?;
    let mut rows = stmt.query([]).map_err(&err)?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next().map_err(&err)? {
        let id: i64 = row.get(0).map_err(&err)?;
        let blob: Vec<u8> = row.get(1).map_err(&err)?;
        if blob.len() != dim * 4 {
            return Err(EngineError::Catalog { path: catalog.path.clone(), reason: format!("image {id} has an embedding of {} bytes, expected {}", blob.len(), dim * 4) });
        }
        vectors.append(id, &bytemuck::pod_collect_to_vec::<u8, f32>(&blob))?;
        ids.push(id);
    }
    Ok(ids)
}
