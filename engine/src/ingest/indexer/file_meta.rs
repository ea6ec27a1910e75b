//! Photo metadata as the catalog keeps it: EXIF, the file's modification time standing in for a
//! missing capture time; read afresh for images an older catalog kept none for.

use crate::{
    catalog::Catalog,
    ingest::roots::Roots,
    media::photo_meta::{self, PhotoMeta, Taken},
    Result,
};

/// The file's EXIF metadata, its modification time standing in for a capture time EXIF lacks.
pub(super) fn with_file_time(meta: &PhotoMeta, mtime_ns: i64) -> PhotoMeta {
    PhotoMeta { taken: meta.taken.or(Some(Taken::from_file_time(mtime_ns))), ..meta.clone() }
}

/// Reads the metadata of images an upgraded catalog has none for (format 2 kept none): the
/// start of each file, where EXIF lives, not its pixels; committed a chunk at a time, so a
/// killed run keeps what it read.
pub(super) fn fill_missing_photo_meta(catalog: &mut Catalog, roots: &Roots) -> Result<()> {
    const CHUNK: usize = 512;
    let mut filled = 0;
    loop {
        let rows = catalog.without_photo_meta(CHUNK)?;
        if rows.is_empty() {
            break;
        }
        let metas: Vec<PhotoMeta> = rows.iter().map(|(_, path, mtime_ns)| with_file_time(&photo_meta::read_file_start(&roots.file(path)), *mtime_ns)).collect();
        catalog.write(|w| rows.iter().zip(&metas).try_for_each(|((id, _, _), meta)| w.set_photo_meta(*id, meta)))?;
        filled += rows.len();
    }
    if filled > 0 {
        tracing::info!("read the capture time, camera and location of {filled} images indexed before clipfind kept them");
    }
    Ok(())
}
