//! The vector store a run keeps up to date: the embedded one (its snapshot maintained after the
//! run), or a remote Milvus collection, checked before any embedding and synced at the end.

use super::options::IndexOptions;
use super::summary::Summary;
#[cfg(feature = "milvus")]
use crate::catalog::identity;
use crate::{
    catalog::Catalog,
    clip::Clip,
    ingest::run_status::StatusFile,
    store::choice::{StoreChoice, REMOTE_MARKER_KEY, STORE_KEY},
    store::snapshot,
    EngineError, Result,
};

/// The remote store this run keeps up to date: the one given (recorded for later runs), else the
/// one the catalog records; None for the embedded store. Its collection is created, or checked
/// to hold this model's vectors (dropped and made again when the run starts the index again).
#[cfg(feature = "milvus")]
pub(super) type RemoteStore = crate::store::milvus::Remote;
#[cfg(not(feature = "milvus"))]
pub(super) type RemoteStore = std::convert::Infallible;

pub(super) fn open_remote_store(catalog: &mut Catalog, clip: &Clip, options: &IndexOptions) -> Result<Option<RemoteStore>> {
    let recorded = catalog.meta(STORE_KEY)?;
    let store = match (&options.store, &recorded) {
        (Some(given), _) => given.clone(),
        (None, Some(text)) => StoreChoice::from_recorded(text, &options.index_dir).map_err(EngineError::Usage)?,
        (None, None) => StoreChoice::Local,
    };
    if options.store.is_some() {
        store.save_password(&options.index_dir).map_err(|source| EngineError::Io { path: options.index_dir.join(crate::store::choice::PASSWORD_FILE), source })?;
    }
    if recorded.as_deref() != Some(store.recorded().as_str()) {
        // Another store: whatever the catalog remembers of a remote one no longer applies.
        catalog.write(|w| {
            w.set_meta(STORE_KEY, &store.recorded())?;
            w.delete_meta(REMOTE_MARKER_KEY)?;
            w.clear_remote_rows()
        })?;
        tracing::info!("vector store: {store}");
    }
    match store {
        StoreChoice::Local => Ok(None),
        #[cfg(feature = "milvus")]
        StoreChoice::Milvus(url) => {
            let remote = crate::store::milvus::Remote::new(url)?;
            let replace = options.rebuild || options.rebuild_on_model_change;
            remote.ensure_collection(clip.dim(), &identity::of(clip)?, &clip.spec().name, replace)?;
            Ok(Some(remote))
        }
        #[cfg(not(feature = "milvus"))]
        StoreChoice::Milvus(url) => Err(crate::store::choice::without_milvus(&url)),
    }
}

/// Brings the remote store up to date with the catalog (instead of the embedded store's
/// snapshot maintenance).
#[cfg(feature = "milvus")]
pub(super) fn sync_remote_store(catalog: &mut Catalog, remote: &RemoteStore, clip: &Clip, options: &IndexOptions, status: &StatusFile, summary: &mut Summary) -> Result<snapshot::Maintenance> {
    crate::support::killpoint::pause("remote-sync");
    status.phase("uploading vectors to Milvus", 0);
    let report = crate::store::milvus::sync(catalog, &options.index_dir, clip.dim(), remote, &|done, total| {
        tracing::debug!("uploaded {done} of {total} vectors to Milvus");
    })?;
    if report.verified {
        tracing::info!("checked every row of the Milvus collection {} against the catalog", remote.url().collection);
    }
    (summary.uploaded, summary.remote_deleted) = (report.uploaded, report.deleted);
    summary.remote_store = Some(remote.url().to_string());
    Ok(snapshot::Maintenance {
        factory: remote.url().describe(),
        written: report.uploaded + report.deleted > 0,
        recall: remote.url().index.is_exact().then_some(1.0),
        ..snapshot::Maintenance::default()
    })
}

#[cfg(not(feature = "milvus"))]
pub(super) fn sync_remote_store(_: &mut Catalog, remote: &RemoteStore, _: &Clip, _: &IndexOptions, _: &StatusFile, _: &mut Summary) -> Result<snapshot::Maintenance> {
    match *remote {}
}
