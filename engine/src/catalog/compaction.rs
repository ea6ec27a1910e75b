//! Keeping the vector file small: a rewrite without the slots no image uses once they outnumber
//! the live ones, and the removal of vector files the catalog no longer names.

use std::path::Path;

use super::{
    connection::Catalog,
    vector_file::{file_name, number, MappedVectors, VectorAppender, FILE_KEY, SLOTS_KEY},
};
use crate::{support::killpoint, Result};

/// Rewrites the vector file without the slots no image uses any more (replaced and removed
/// vectors) once they outnumber the live ones. The new file is written and synced under a new
/// name; the rows' new slots and the new name are one transaction; the old file is deleted after.
/// Returns whether it compacted.
pub fn compact_if_wasteful(catalog: &mut Catalog, index_dir: &Path, dim: usize) -> Result<bool> {
    let Some(old) = catalog.meta(FILE_KEY)? else { return Ok(false) };
    let slots: u64 = catalog.meta(SLOTS_KEY)?.and_then(|s| s.parse().ok()).unwrap_or(0);
    let live = catalog.vector_count()?;
    if slots - live.min(slots) <= live.max(1_000) {
        return Ok(false);
    }
    let pairs = catalog.slots()?;
    let mapped = MappedVectors::open(&index_dir.join(&old), slots, dim)?;
    let name = file_name(number(Some(&old)).unwrap_or(0) + 1);
    let mut fresh = VectorAppender::open(&index_dir.join(&name), 0, dim)?;
    let moves: Vec<(i64, u64)> = pairs.iter().map(|&(id, slot)| Ok((id, fresh.append(id, mapped.vector(slot, id)?)?))).collect::<Result<_>>()?;
    fresh.sync()?;
    killpoint::reached("compaction-written");
    catalog.write(|w| {
        for &(id, slot) in &moves {
            w.set_slot(id, slot)?;
        }
        w.set_meta(FILE_KEY, &name)?;
        w.set_meta(SLOTS_KEY, &fresh.slots().to_string())
    })?;
    killpoint::reached("compaction-committed");
    tracing::info!("compacted the vector file: {slots} slots to {live}");
    Ok(true)
}

/// Deletes vector files the catalog does not name (a compaction's or a rebuild's old file, a
/// killed compaction's new one). A search process that has one mapped keeps reading it.
pub fn remove_unused(catalog: &Catalog, index_dir: &Path) -> Result<()> {
    let keep = catalog.meta(FILE_KEY)?;
    let Ok(entries) = std::fs::read_dir(index_dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if number(Some(&name)).is_some() && Some(&name) != keep.as_ref() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}
