//! `clipfind-model.json`: what a model folder holds and how to feed it (see models/README.md).

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use super::text_clean::Clean;
use crate::{EngineError, Result};

/// File name of the model description in a model folder.
pub const SPEC_FILE: &str = "clipfind-model.json";
/// The layout version written; format 1 (no family fields: OpenAI CLIP's behaviour) still loads.
pub const SPEC_FORMAT: u32 = 2;

/// A model folder's description (`clipfind-model.json`): its files, tensor names and what
/// differs between model families (tokenizing, padding, pooling, resizing), as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Version of this file's layout: 1 or 2.
    pub format: u32,
    /// Short name of the model, shown to users and recorded in an index.
    pub name: String,
    /// What the model is and what it knows, for people (may be empty).
    #[serde(default)]
    pub description: String,
    /// Where the weights come from (for a fetched model, its Hub repository URL).
    pub source: String,
    /// The commit of `source` the files came from, when downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The weights' license.
    pub license: String,
    /// Length of the embeddings both encoders output.
    pub embedding_dim: usize,
    /// Side of the square image the vision encoder takes, in pixels.
    pub image_size: u32,
    /// Per-channel (RGB) mean subtracted from pixel values scaled to 0..1.
    pub image_mean: [f32; 3],
    /// Per-channel (RGB) standard deviation the centred pixel values are divided by (positive).
    pub image_std: [f32; 3],
    /// Most tokens a text may have, start and end tokens included (77 for CLIP).
    pub context_length: usize,
    /// The text encoder's file and tensor names.
    pub text: TextSpec,
    /// The vision encoder's file and tensor names.
    pub vision: VisionSpec,
    /// File name, in the model folder, of the Hugging Face `tokenizers` JSON.
    pub tokenizer: String,
    /// sha256 of each file, by file name: the model's identity.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
    /// The model family, for people ("openai-clip", "open_clip", "siglip", "xlm-roberta", ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    /// Whether the encoders take any batch size or exactly one input per run (Immich's
    /// exports are fixed at 1).
    #[serde(default)]
    pub batch: Batch,
}

/// The batch dimension of both encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Batch {
    /// Any batch size.
    #[default]
    Dynamic,
    /// One input per run.
    One,
}

/// Where the start and end tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecialTokens {
    /// clipfind frames the ids with CLIP's `<|startoftext|>` and `<|endoftext|>`.
    #[default]
    Clip,
    /// The tokenizer JSON's post-processor adds them (`<s> .. </s>`, `.. <eos>`, `[CLS] .. [SEP]`).
    Tokenizer,
}

/// How token rows are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// To the longest row of a batch (the causal mask keeps the padding from mattering).
    #[default]
    Longest,
    /// Always to the context length (models without a causal mask, or exports of fixed shape).
    Fixed,
}

/// What the text encoder's output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// `[batch, dim]`: pooled and projected already.
    #[default]
    Done,
    /// `[batch, seq, dim]`: the first token's vector.
    Cls,
    /// `[batch, seq, dim]`: the mean over real (unpadded) tokens.
    Mean,
}

/// How an image becomes the square input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Short side to the input size, then the centre square (CLIP, open_clip's default).
    #[default]
    Shortest,
    /// Both sides to the input size, aspect ratio not kept (SigLIP, Chinese-CLIP).
    Squash,
}

/// The resampling filter, as PIL applies it (antialiased when shrinking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// PIL's bicubic (Catmull-Rom).
    #[default]
    Bicubic,
    /// PIL's bilinear (triangle).
    Bilinear,
}

/// The text encoder: its ONNX file and the names of its tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextSpec {
    /// ONNX file name in the model folder.
    pub file: String,
    /// Name of the int64 `[batch, seq]` token id input.
    pub input_ids: String,
    /// Some exports also take an attention mask (all ones for real tokens).
    #[serde(default)]
    pub attention_mask: Option<String>,
    /// Name of the float32 `[batch, embedding_dim]` embedding output.
    pub output: String,
    /// The same encoder with int8 weights (dynamically quantised: `models/tools/quantize_text.py`),
    /// same tensors; used with `--text-int8`. Vision stays fp32, so indexes never change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8_file: Option<String>,
    /// How text is cleaned before tokenizing.
    #[serde(default)]
    pub clean: Clean,
    /// Who adds the start and end tokens.
    #[serde(default)]
    pub special_tokens: SpecialTokens,
    /// How rows are padded, and with which id.
    #[serde(default)]
    pub padding: Padding,
    /// The id padding is filled with (the model may derive its attention mask from it).
    #[serde(default)]
    pub pad_id: i64,
    /// Whether the output still needs pooling over the tokens.
    #[serde(default)]
    pub pooling: Pooling,
}

/// The vision encoder: its ONNX file and the names of its tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisionSpec {
    /// ONNX file name in the model folder.
    pub file: String,
    /// Name of the float32 `[batch, 3, image_size, image_size]` pixel input.
    pub input: String,
    /// Name of the float32 `[batch, embedding_dim]` embedding output.
    pub output: String,
    /// How the image becomes the square input.
    #[serde(default)]
    pub resize: ResizeMode,
    /// The resampling filter.
    #[serde(default)]
    pub interpolation: Interpolation,
}

/// OpenAI CLIP's per-channel (RGB) image mean.
pub const OPENAI_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel (RGB) image standard deviation.
pub const OPENAI_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

impl ModelSpec {
    /// Reads and checks the `clipfind-model.json` of the model folder `dir`.
    pub fn read_file(dir: &Path) -> Result<ModelSpec> {
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
        if !(1..=SPEC_FORMAT).contains(&self.format) {
            return Err(format!("format {} is not supported (this clipfind reads formats 1 to {SPEC_FORMAT})", self.format));
        }
        if self.embedding_dim == 0 || self.image_size == 0 || self.context_length < 2 {
            return Err("embedding_dim, image_size and context_length must be positive".into());
        }
        if self.image_std.iter().any(|s| *s <= 0.0) {
            return Err("image_std must be positive".into());
        }
        if self.format == 1 && self != &self.as_format_1() {
            return Err("the model family fields need \"format\": 2".into());
        }
        Ok(())
    }

    /// This spec with every family field at format 1's value (OpenAI CLIP's behaviour).
    fn as_format_1(&self) -> ModelSpec {
        let mut plain = self.clone();
        let (text, vision) = (&mut plain.text, &mut plain.vision);
        (text.clean, text.special_tokens, text.padding, text.pad_id, text.pooling) = Default::default();
        (vision.resize, vision.interpolation) = Default::default();
        (plain.family, plain.batch) = Default::default();
        plain
    }

    /// What makes two models the same: the hashes of their files. A folder whose spec lists no
    /// hashes gets them computed now.
    pub fn identity(&self, dir: &Path) -> Result<String> {
        let mut lines = Vec::new();
        for file in [&self.text.file, &self.vision.file, &self.tokenizer] {
            let hash = match self.sha256.get(file.as_str()) {
                Some(h) => h.clone(),
                None => crate::support::digest::sha256_file(&dir.join(file))?,
            };
            lines.push(format!("{file}={hash}"));
        }
        Ok(lines.join(";"))
    }

    /// Writes this spec as `clipfind-model.json` (pretty-printed JSON) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(SPEC_FILE);
        let json = serde_json::to_string_pretty(self).expect("a model spec always serialises");
        std::fs::write(&path, json + "\n").map_err(|source| EngineError::Io { path, source })
    }
}
