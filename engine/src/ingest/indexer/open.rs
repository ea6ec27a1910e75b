//! Opening the index for a run: the writer lock, the catalog (its model checked, the run's
//! settings and folders recorded) and the vector file new vectors are appended to.

use std::path::Path;

use super::options::IndexOptions;
use crate::{
    catalog::identity::{self, Recorded},
    catalog::vector_file::{self, VectorAppender, FILE_KEY, SLOTS_KEY},
    catalog::Catalog,
    clip::Clip,
    ingest::roots::Roots,
    ingest::writer_lock::{self, WriterLock},
    store::faiss_store::normalise_factory,
    store::policy::FactoryChoice,
    EngineError, Result,
};

/// Refuses an index built with another model, unless rebuilding or allowed to start again.
fn check_model(catalog: &mut Catalog, clip: &Clip, options: &IndexOptions) -> Result<()> {
    let identity = identity::of(clip)?;
    let recorded = identity::compare(catalog, &identity)?;
    if let Recorded::Other(name) = &recorded {
        if !options.rebuild && !options.rebuild_on_model_change {
            if identity::made_by_other_encoder(catalog, clip)? {
                return Err(identity::other_encoder(&options.index_dir, clip));
            }
            return Err(EngineError::ModelMismatch(format!(
                "this index was built with the model `{name}`, not `{}` (different files). Use that model \
                 (--model), or re-embed everything with --rebuild",
                clip.spec().name
            )));
        }
        tracing::warn!("the index was built with `{name}`: re-embedding everything with `{}`", clip.spec().name);
    }
    if options.rebuild || recorded != Recorded::Same {
        // A new vector file: the old one may hold vectors of another dimension.
        let next = vector_file::number(catalog.meta(FILE_KEY)?.as_deref()).map_or(1, |n| n + 1);
        catalog.write(|w| {
            w.delete_all()?;
            w.set_meta(FILE_KEY, &vector_file::file_name(next))?;
            w.set_meta(SLOTS_KEY, "0")?;
            w.bump_generation()?;
            identity::record(w, clip, &identity)
        })?;
    }
    Ok(())
}

/// Takes the writer lock, opens (or creates) the catalog, checks the model and records the run's
/// settings and folders. Returns the lock, the catalog, the folders and the vector index choice.
pub(super) fn open_catalog(clip: &Clip, options: &IndexOptions) -> Result<(WriterLock, Catalog, Roots, FactoryChoice)> {
    let index_dir = &options.index_dir;
    // Checked before the lock file is opened: a planted link must not be written through.
    crate::support::index_folder::create(index_dir)?;
    let lock = writer_lock::acquire(index_dir)?;
    let mut catalog = Catalog::open(index_dir)?;
    check_model(&mut catalog, clip, options)?;
    let before = Roots::recorded(&catalog)?;
    let roots = Roots::choose(&options.data, &before)?;
    roots.record(&mut catalog, &before)?;

    let choice = match (&options.factory, catalog.meta("factory")?) {
        (Some(f), _) => FactoryChoice::parse(f),
        (None, Some(stored)) => FactoryChoice::parse(&stored),
        (None, None) => FactoryChoice::Auto,
    };
    if let FactoryChoice::Fixed(f) = &choice {
        normalise_factory(f)?;
    }
    if let Ok(model_dir) = clip.dir().canonicalize() {
        catalog.set_meta("model_dir", &model_dir.to_string_lossy())?;
    }
    catalog.set_meta("factory", choice.as_str())?;
    Ok((lock, catalog, roots, choice))
}

/// Opens the vector file for appending after its committed vectors (a new index starts one).
pub(super) fn open_vectors(catalog: &Catalog, index_dir: &Path, dim: usize) -> Result<VectorAppender> {
    let name = match catalog.meta(FILE_KEY)? {
        Some(name) => name,
        None => {
            let name = vector_file::file_name(1);
            catalog.set_meta(FILE_KEY, &name)?;
            name
        }
    };
    let committed = catalog.meta(SLOTS_KEY)?.and_then(|s| s.parse().ok()).unwrap_or(0);
    VectorAppender::open(&index_dir.join(name), committed, dim)
}
