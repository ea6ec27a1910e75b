//! Whether a run reads every file's size and mtime or trusts the folders unchanged since the last
//! run, and what a complete run records for the next one to decide by.

use super::clock::now_secs;
use super::options::IndexOptions;
use crate::{catalog::Catalog, Result};

/// Meta keys: when the last full scan ran (Unix seconds), and with which exclusions.
const FULL_SCAN_AT: &str = "full_scan_at";
const SCANNED_WITH: &str = "scanned_with";
/// A full scan at least this often, for files rewritten in place.
const FULL_SCAN_EVERY: i64 = 24 * 3600;

/// Whether this run must read every file's size and mtime: asked to, no folder times recorded
/// yet, other exclusions than last time, or the last full scan is a day old.
pub(super) fn needs_full_scan(catalog: &Catalog, options: &IndexOptions) -> Result<bool> {
    let last = catalog.meta(FULL_SCAN_AT)?.and_then(|t| t.parse::<i64>().ok());
    let same_exclusions = catalog.meta(SCANNED_WITH)?.is_some_and(|e| e == options.exclude.join("\n"));
    Ok(options.full_scan || !same_exclusions || last.is_none_or(|t| now_secs() - t >= FULL_SCAN_EVERY))
}

/// After a complete run: the folders' times, so the next run can trust unchanged folders.
pub(super) fn record_scan(catalog: &mut Catalog, options: &IndexOptions, folders: &[(String, i64)], full: bool) -> Result<()> {
    catalog.write(|w| {
        w.set_folders(folders)?;
        w.set_meta(SCANNED_WITH, &options.exclude.join("\n"))?;
        if full {
            w.set_meta(FULL_SCAN_AT, &now_secs().to_string())?;
        }
        Ok(())
    })
}
