//! A library's vectors searched in Milvus: plain and filtered searches go to the collection;
//! a single vector ("more like this", duplicates) is read from the index folder's vector file,
//! which the catalog keeps as before. Milvus being down makes searches fail with
//! [`EngineError::StoreUnavailable`] (a server answers 503) until it is back; nothing needs
//! reopening.

use std::{path::Path, sync::{Arc, OnceLock}};

use super::{expr, remote::Remote};
use crate::{
    catalog::filter::Filter,
    catalog::Catalog,
    store::{
        choice::MilvusUrl, indexed::StoredVectors, snapshot::Committed, LibraryVectors,
        VectorSearch,
    },
    EngineError, Result,
};

/// The model a collection must hold.
struct Model {
    dim: usize,
    identity: String,
    name: String,
}

/// A library searched through its Milvus collection.
pub struct MilvusVectors {
    remote: Remote,
    model: Model,
    /// Set once the collection was found to hold this model's vectors.
    checked: OnceLock<()>,
    stored: StoredVectors,
    factory: String,
}

impl MilvusVectors {
    /// The vectors of the index in `index_dir`, searched in `url`'s collection. Connects on the
    /// first search, not here: a server starts while Milvus is down.
    pub fn open(catalog: &Catalog, index_dir: &Path, url: MilvusUrl, dim: usize, identity: &str, model: &str) -> Result<MilvusVectors> {
        let stored = StoredVectors::open(&Committed::read(catalog)?, index_dir, dim)?;
        let factory = url.describe();
        Ok(MilvusVectors {
            remote: Remote::new(url)?,
            model: Model { dim, identity: identity.to_string(), name: model.to_string() },
            checked: OnceLock::new(),
            stored,
            factory,
        })
    }

    fn checked(&self) -> Result<&Remote> {
        if self.checked.get().is_none() {
            self.remote.check_collection(self.model.dim, &self.model.identity, &self.model.name)?;
            let _ = self.checked.set(());
        }
        Ok(&self.remote)
    }

    /// Searches, loading the collection again once when Milvus says it is not loaded (after a
    /// restart it may not be).
    fn search_in_milvus(&self, queries: &[f32], k: usize, filter: Option<String>) -> Result<Vec<Vec<(i64, f32)>>> {
        match self.checked()?.search(queries, self.model.dim, k, filter.clone()) {
            Err(EngineError::Store(m)) if m.contains("not loaded") || m.contains("not load") => {
                self.remote.load()?;
                self.remote.search(queries, self.model.dim, k, filter)
            }
            found => found,
        }
    }
}

impl VectorSearch for MilvusVectors {
    fn dim(&self) -> usize {
        self.model.dim
    }

    fn len(&self) -> u64 {
        self.stored.len() as u64
    }

    fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(i64, f32)>>> {
        self.search_in_milvus(queries, k, None)
    }
}

impl LibraryVectors for MilvusVectors {
    fn stored(&self) -> &StoredVectors {
        &self.stored
    }

    fn is_approximate(&self) -> bool {
        !self.remote.url().index.is_exact()
    }

    fn factory(&self) -> &str {
        &self.factory
    }

    fn recall(&self) -> Option<f32> {
        (!self.is_approximate()).then_some(1.0)
    }

    fn search_filtered(&self, query: &[f32], filter: &Filter, ids_of: &dyn Fn(&Filter) -> Result<Arc<Vec<i64>>>, k: usize) -> Option<Result<Vec<(i64, f32)>>> {
        let run = || {
            let (expression, rest) = expr::expression(filter);
            let expression = match rest {
                Some(rest) => expr::with_ids(&expression, &ids_of(&rest)?),
                None => expression,
            };
            let found = self.search_in_milvus(query, k, Some(expression).filter(|e| !e.is_empty()))?;
            Ok(found.into_iter().next().unwrap_or_default())
        };
        Some(run())
    }
}
