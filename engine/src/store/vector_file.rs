//! The life cycle of the FAISS file beside the catalog. The catalog is the source of truth and
//! records which of its generations the file holds: a file from an older generation (an
//! interrupted run) or a missing one is rebuilt from the catalog.

use std::path::Path;

use super::{
    faiss_store::{FaissStore, DEFAULT_FACTORY},
    VectorStore,
};
use crate::{catalog::Catalog, Result};

/// The FAISS file's name inside the index folder.
pub const VECTORS_FILE: &str = "vectors.faiss";

/// Whether the FAISS file holds the catalog's current vectors.
pub fn is_current(catalog: &Catalog, index_dir: &Path) -> Result<bool> {
    let written_for = catalog.meta("vectors_generation")?.and_then(|g| g.parse::<u64>().ok());
    Ok(written_for == Some(catalog.generation()?) && index_dir.join(VECTORS_FILE).is_file())
}

/// Writes the FAISS file when the catalog changed since it was written, when it is missing, or
/// when the index type changed. Returns whether it wrote.
pub fn write_if_stale(catalog: &Catalog, index_dir: &Path, dim: usize, factory: &str, factory_changed: bool) -> Result<bool> {
    if is_current(catalog, index_dir)? && !factory_changed {
        return Ok(false);
    }
    write(catalog, index_dir, dim, factory)?;
    Ok(true)
}

/// Builds the FAISS index from the catalog and saves it, recording the generation it holds.
pub fn write(catalog: &Catalog, index_dir: &Path, dim: usize, factory: &str) -> Result<()> {
    let generation = catalog.generation()?;
    let (ids, vectors) = catalog.vectors(dim)?;
    FaissStore::build(dim, factory, &ids, &vectors)?.save(index_dir)?;
    catalog.set_meta("vectors_generation", &generation.to_string())
}

/// Loads the vectors for searching: the FAISS file when it matches the catalog, else rebuilt
/// from the catalog in memory (after an interrupted run), without writing anything. The flag
/// says whether it was rebuilt.
pub fn load(catalog: &Catalog, index_dir: &Path, dim: usize) -> Result<(FaissStore, bool)> {
    if is_current(catalog, index_dir)? {
        if let Ok(store) = FaissStore::load(&index_dir.join(VECTORS_FILE), dim) {
            if store.len() == catalog.count()? {
                return Ok((store, false));
            }
        }
    }
    tracing::warn!("the vector file does not match the catalog (interrupted indexing?): rebuilding it in memory");
    let factory = catalog.meta("factory")?.unwrap_or_else(|| DEFAULT_FACTORY.to_string());
    let (ids, vectors) = catalog.vectors(dim)?;
    Ok((FaissStore::build(dim, &factory, &ids, &vectors)?, true))
}
