//! Opening a catalog for writing: created when it is new, upgraded in place when its format is
//! older (nothing is re-embedded), refused when it is newer than this clipfind reads.

use std::path::Path;

use rusqlite::Connection;

use super::{
    connection::Catalog,
    rows::db_error,
    schema::{CATALOG_FILE, FORMAT, META, NAMES, OLDER_FORMATS, SCHEMA},
    upgrade,
};
use crate::{EngineError, Result};

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
            Some(older) if OLDER_FORMATS.contains(&older) => upgrade::to_current(&mut catalog, index_dir, older)?,
            Some(f) => {
                return Err(EngineError::Catalog {
                    path: catalog.path.clone(),
                    reason: format!("catalog format {f} is newer than this clipfind reads (format {FORMAT}); use a newer clipfind, or rebuild with --rebuild"),
                })
            }
        }
        catalog.conn.execute_batch(SCHEMA).map_err(&err)?;
        catalog.conn.execute_batch(NAMES).map_err(&err)?;
        Ok(catalog)
    }
}
