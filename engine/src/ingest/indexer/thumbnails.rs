//! Keeping the thumbnail folder in step with the catalog after a run: thumbnails of content no
//! image has any more pruned, and (after a failed write or a crash) missing ones made.

use std::{collections::HashSet, path::Path};

use super::finish::Finished;
use super::options::IndexOptions;
use super::summary::Summary;
use crate::{
    catalog::{Catalog, ImageRow},
    ingest::roots::Roots,
    ingest::thumbs,
    Result,
};

/// Meta key of the thumbnail folder's fingerprint when it was last checked complete.
pub(super) const THUMBNAILS_CHECKED: &str = "thumbnails_checked";

/// Whether the thumbnail folder is as the last complete check left it (then nothing is missing
/// and no temporary file was left behind since).
pub(super) fn thumbnails_as_left(catalog: &Catalog, index_dir: &Path) -> Result<bool> {
    Ok(catalog.meta(THUMBNAILS_CHECKED)?.is_some_and(|f| f == thumbs::fingerprint(index_dir)))
}

/// Keeps the thumbnail folder in step with the catalog. When the folder was as the last run
/// left it, only this run's changes matter: thumbnails of content no image has any more are
/// deleted. Otherwise (a thumbnail deleted by hand, a failed write, a crash's temporary file)
/// every image is checked: missing thumbnails are made and unused ones deleted.
pub(super) fn tidy_thumbnails(catalog: &Catalog, roots: &Roots, options: &IndexOptions, checked: bool, finished: &Finished, summary: &mut Summary) -> Result<()> {
    let complete = match checked {
        true => {
            for hash in &finished.old_hashes {
                if !catalog.has_hash(hash)? {
                    let _ = std::fs::remove_file(thumbs::path(&options.index_dir, hash));
                }
            }
            finished.thumbnail_failures == 0
        }
        false => {
            let rows = catalog.images()?;
            let stored = thumbs::stored(&options.index_dir);
            let mut wanted = HashSet::new();
            let missing: Vec<&ImageRow> = rows.iter().filter(|r| wanted.insert(r.hash.clone()) && !stored.contains(&r.hash)).collect();
            summary.thumbnails_made = make_thumbnails(&missing, roots, options);
            thumbs::prune(&options.index_dir, &wanted);
            summary.thumbnails_made == missing.len()
        }
    };
    catalog.set_meta(THUMBNAILS_CHECKED, &if complete { thumbs::fingerprint(&options.index_dir) } else { String::new() })
}

/// Writes the thumbnails of `rows` on two threads; returns how many were made.
fn make_thumbnails(rows: &[&ImageRow], roots: &Roots, options: &IndexOptions) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let (next, made) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while let Some(row) = rows.get(next.fetch_add(1, Relaxed)) {
                    let file = roots.file(&row.path);
                    let small_enough = std::fs::metadata(&file).is_ok_and(|m| m.len() <= options.max_file_bytes);
                    if small_enough && thumbs::make_from_file(&options.index_dir, &row.hash, &file).is_ok() {
                        made.fetch_add(1, Relaxed);
                    }
                }
            });
        }
    });
    made.into_inner()
}
