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
    clip.identity()
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
        Recorded::Other(_) if made_by_other_encoder(catalog, clip)? => Err(other_encoder(index_dir, clip)),
        Recorded::Other(name) => Err(mismatch(index_dir, &name, clip)),
    }
}

/// Whether the index was made by the same model's other image encoder (fp32 against int8).
pub(crate) fn made_by_other_encoder(catalog: &Catalog, clip: &Clip) -> Result<bool> {
    let vision = &clip.spec().vision;
    let Some(int8) = &vision.int8_file else { return Ok(false) };
    let other = if clip.image_int8() { &vision.file } else { int8 };
    Ok(catalog.meta("model_identity")?.as_deref() == Some(clip.spec().identity_with(clip.dir(), other)?.as_str()))
}

pub(crate) fn other_encoder(index_dir: &std::path::Path, clip: &Clip) -> EngineError {
    let (made, loaded, flag) = if clip.image_int8() { ("fp32", "int8", "without") } else { ("int8", "fp32", "with") };
    EngineError::ModelMismatch(format!(
        "the index in {} was made by the {made} image encoder of `{}`, not its {loaded} one: run {flag} \
         --image-int8, or re-index with `clipfind index --rebuild`",
        index_dir.display(),
        clip.spec().name
    ))
}

fn mismatch(index_dir: &std::path::Path, name: &str, clip: &Clip) -> EngineError {
    EngineError::ModelMismatch(format!(
        "the index in {} was built with the model `{name}`, not `{}`: pass that model with --model, \
         or re-index with `clipfind index --rebuild`",
        index_dir.display(),
        clip.spec().name
    ))
}
