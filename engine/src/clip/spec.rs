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
    /// The same encoder statically quantised to int8 (`models/tools/quantize_image.py`), same
    /// tensors; used with `--image-int8` when [`VisionSpec::int8_fidelity`] holds the bar. An
    /// index records which of the two encoders made it (see [`ModelSpec::identity_with`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8_file: Option<String>,
    /// How close the int8 encoder came to fp32, measured when it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8_fidelity: Option<Fidelity>,
}

/// An int8 image encoder measured against its fp32 original on a held-out set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// How it was quantised ("static, 7-bit weights", "dynamic", ...).
    #[serde(default)]
    pub method: String,
    /// What it was measured on (a labelled held-out set, or photos for cosine alone).
    pub held_out: String,
    /// Mean cosine between the two encoders' embeddings of the same image.
    pub cosine_mean: f32,
    /// The least of those cosines.
    pub cosine_min: f32,
    /// Text-to-image recall@1 and @5, fp32 then int8; absent where the set has no labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_at_1: Option<[f32; 2]>,
    /// Text-to-image recall@5, fp32 then int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_at_5: Option<[f32; 2]>,
    /// Recall@1 and @5 of every caption of every image, fp32 then int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_recall_at_1: Option<[f32; 2]>,
    /// Caption recall@5, fp32 then int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_recall_at_5: Option<[f32; 2]>,
    /// Image-to-image recall@1 and @5 (each image of a group finding the others), fp32 then int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_recall_at_1: Option<[f32; 2]>,
    /// Image-to-image recall@5, fp32 then int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_recall_at_5: Option<[f32; 2]>,
}

impl Fidelity {
    /// Least mean cosine to fp32 an int8 encoder may have.
    pub const MIN_COSINE: f32 = 0.99;
    /// Most recall (@1 or @5) an int8 encoder may lose.
    pub const MAX_RECALL_LOSS: f32 = 0.01;

    /// Why the int8 encoder misses the bar, or `None` when it holds it.
    pub fn shortfall(&self) -> Option<String> {
        if !(self.cosine_mean >= Self::MIN_COSINE) {
            return Some(format!("mean cosine to fp32 {:.4} is under {}", self.cosine_mean, Self::MIN_COSINE));
        }
        let recalls = [
            ("recall@1", self.recall_at_1),
            ("recall@5", self.recall_at_5),
            ("caption recall@1", self.caption_recall_at_1),
            ("caption recall@5", self.caption_recall_at_5),
            ("image-to-image recall@1", self.image_recall_at_1),
            ("image-to-image recall@5", self.image_recall_at_5),
        ];
        for (what, recall) in recalls {
            if let Some([fp32, int8]) = recall {
                if !(fp32 - int8 <= Self::MAX_RECALL_LOSS + 1e-6) {
                    return Some(format!("{what} {int8:.3} is more than {} under fp32's {fp32:.3}", Self::MAX_RECALL_LOSS));
                }
            }
        }
        None
    }
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
        self.identity_with(dir, &self.vision.file)
    }

    /// The identity of this model with the image encoder in `vision_file` (the fp32 one or its
    /// int8 copy): their embeddings differ, so an index made by one is not the other's. The
    /// text encoder is always the fp32 file's: an int8 text encoder only encodes queries.
    pub fn identity_with(&self, dir: &Path, vision_file: &str) -> Result<String> {
        let mut lines = Vec::new();
        for file in [&self.text.file, &vision_file.to_string(), &self.tokenizer] {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(cosine_mean: f32, recall_at_1: [f32; 2]) -> Fidelity {
        Fidelity {
            method: "static, 7-bit weights".into(),
            held_out: "samples/shapes".into(),
            cosine_mean,
            cosine_min: cosine_mean - 0.01,
            recall_at_1: Some(recall_at_1),
            recall_at_5: Some([1.0, 1.0]),
            caption_recall_at_1: None,
            caption_recall_at_5: None,
            image_recall_at_1: None,
            image_recall_at_5: None,
        }
    }

    #[test]
    fn the_fidelity_bar_takes_cosine_and_every_recall() {
        assert_eq!(measured(0.999, [0.9, 0.9]).shortfall(), None);
        assert_eq!(measured(0.999, [0.9, 0.95]).shortfall(), None, "a gain is no loss");
        assert_eq!(measured(0.999, [0.9, 0.89]).shortfall(), None, "0.01 is within the bar");
        assert!(measured(0.98, [0.9, 0.9]).shortfall().unwrap().contains("cosine"));
        assert!(measured(0.999, [0.9, 0.875]).shortfall().unwrap().contains("recall@1"));
        assert!(measured(f32::NAN, [0.9, 0.9]).shortfall().is_some(), "an unmeasured cosine never holds");
        let image = Fidelity { image_recall_at_5: Some([0.9, 0.85]), ..measured(0.999, [0.9, 0.9]) };
        assert!(image.shortfall().unwrap().contains("image-to-image recall@5"));
    }

    #[test]
    fn the_demo_models_record_an_int8_image_encoder_that_holds_the_bar() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        for model in ["clipfind-demo", "clipfind-demo-bilingual"] {
            let spec = ModelSpec::read_file(&root.join(model)).unwrap();
            let int8 = spec.vision.int8_file.as_deref().expect("an int8 image encoder");
            assert!(spec.sha256.contains_key(int8), "{model}: its hash");
            assert_eq!(spec.vision.int8_fidelity.as_ref().and_then(Fidelity::shortfall), None, "{model}");
            let fp32 = spec.identity(&root.join(model)).unwrap();
            assert_ne!(spec.identity_with(&root.join(model), int8).unwrap(), fp32, "{model}: the encoders' identities differ");
        }
    }
}
