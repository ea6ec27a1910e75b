//! Which model an index was built with, and whether a loaded model is that one. Two models are
//! the same when their files hash the same (see `ModelSpec::identity`); an index records the
//! identity, name and dimension of its model in the catalog.

use crate::{catalog::{Catalog, Writer}, clip::Clip, EngineError, Result};

/// How a loaded model compares with the model an index records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The index records no model (a new index).
    Nothing,
    /// The same model files.
    Same,
    /// Another model, by name.
    Other(String),
}

/// The identity of `clip`'s files.
pub(crate) fn of(clip: &Clip) -> Result<String> {
    clip.spec().identity(clip.dir())
}

/// What the index in `catalog` records, compared with `identity`.
pub(crate) fn compare(catalog: &Catalog, identity: &str) -> Result<Recorded> {
    Ok(match catalog.meta("model_identity")? {
        None => Recorded::Nothing,
        Some(stored) if stored == identity => Recorded::Same,
        Some(_) => Recorded::Other(catalog.meta("model_name")?.unwrap_or_else(|| "?".into())),
    })
}

/// Records `clip` as the index's model.
pub(crate) fn record(w: &Writer<'_>, clip: &Clip, identity: &str) -> Result<()> {
    w.set_meta("model_identity", identity)?;
    w.set_meta("model_name", &clip.spec().name)?;
    w.set_meta("dim", &clip.dim().to_string())
}

/// Refuses to search an index with a model other than its own.
pub(crate) fn require_same(catalog: &Catalog, clip: &Clip, index_dir: &std::path::Path) -> Result<()> {
    match compare(catalog, &of(clip)?)? {
        Recorded::Same => Ok(()),
        Recorded::Nothing => Err(mismatch(index_dir, "?", clip)),
        Recorded::Other(name) => Err(mismatch(index_dir, &name, clip)),
    }
}

fn mismatch(index_dir: &std::path::Path, name: &str, clip: &Clip) -> EngineError {
    EngineError::ModelMismatch(format!(
        "the index in {} was built with the model `{name}`, not `{}`: pass that model with --model, \
         or re-index with `clipfind index --rebuild`",
        index_dir.display(),
        clip.spec().name
    ))
}
