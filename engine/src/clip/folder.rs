//! A model folder in either layout clipfind loads: its own `clipfind-model.json`, or the files
//! of an Immich export, from which the same description is derived.

use std::path::Path;

use super::{
    immich,
    spec::{ModelSpec, SPEC_FILE},
};
use crate::Result;

impl ModelSpec {
    /// The description of the model folder `dir`: its `clipfind-model.json`, or one derived
    /// from the files of an Immich-layout folder (see [`super::immich`]).
    pub fn read(dir: &Path) -> Result<ModelSpec> {
        if !dir.join(SPEC_FILE).is_file() && immich::is_immich_layout(dir) {
            return immich::derive_spec(dir);
        }
        Self::read_file(dir)
    }

    /// Whether `dir` holds a model clipfind can load (its own description or Immich's layout).
    pub fn is_model_dir(dir: &Path) -> bool {
        dir.join(SPEC_FILE).is_file() || immich::is_immich_layout(dir)
    }
}
