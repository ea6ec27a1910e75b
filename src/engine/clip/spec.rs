//! `clipfind-model.json`: what a model folder holds and how to feed it (see models/README.md).

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::engine::{EngineError, Result};

pub const SPEC_FILE: &str = "clipfind-model.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub format: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub source: String,
    /// The commit of `source` the files came from, when downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub license: String,
    pub embedding_dim: usize,
    pub image_size: u32,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    pub context_length: usize,
    pub text: TextSpec,
    pub vision: VisionSpec,
    pub tokenizer: String,
    /// sha256 of each file, by file name: the model's identity.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextSpec {
    pub file: String,
    pub input_ids: String,
    /// Some exports also take an attention mask (all ones for real tokens).
    #[serde(default)]
    pub attention_mask: Option<String>,
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionSpec {
    pub file: String,
    pub input: String,
    pub output: String,
}

pub const OPENAI_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const OPENAI_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

impl ModelSpec {
    pub fn read(dir: &Path) -> Result<ModelSpec> {
        let path = dir.join(SPEC_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| EngineError::Model {
            path: dir.to_path_buf(),
            reason: format!("cannot read {SPEC_FILE}: {e}"),
        })?;
        let spec: ModelSpec = serde_json::from_str(&text)
            .map_err(|e| EngineError::Model { path: path.clone(), reason: e.to_string() })?;
        spec.check().map_err(|reason| EngineError::Model { path, reason })?;
        Ok(spec)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.format != 1 {
            return Err(format!("format {} is not supported (this clipfind reads format 1)", self.format));
        }
        if self.embedding_dim == 0 || self.image_size == 0 || self.context_length < 2 {
            return Err("embedding_dim, image_size and context_length must be positive".into());
        }
        if self.image_std.iter().any(|s| *s <= 0.0) {
            return Err("image_std must be positive".into());
        }
        Ok(())
    }

    /// What makes two models the same: the hashes of their files. A folder whose spec lists no
    /// hashes gets them computed now.
    pub fn identity(&self, dir: &Path) -> Result<String> {
        let mut lines = Vec::new();
        for file in [&self.text.file, &self.vision.file, &self.tokenizer] {
            let hash = match self.sha256.get(file.as_str()) {
                Some(h) => h.clone(),
                None => crate::engine::digest::sha256_file(&dir.join(file))?,
            };
            lines.push(format!("{file}={hash}"));
        }
        Ok(lines.join(";"))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(SPEC_FILE);
        let json = serde_json::to_string_pretty(self).expect("a model spec always serialises");
        std::fs::write(&path, json + "\n").map_err(|source| EngineError::Io { path, source })
    }
}
