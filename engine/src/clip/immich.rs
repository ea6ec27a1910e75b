//! Immich's model layout (`immich-app/<Model>__<pretrained>` on the Hugging Face Hub), read
//! directly: the description comes from the open_clip model config (`config.json`), the
//! preprocessing config (`visual/preprocess_cfg.json`) and the tokenizer config, so a folder from
//! Immich's cache or the Hub works without a `clipfind-model.json`.
//!
//! Immich exports both towers with `normalize=True`, input `text` (int32, fixed at the context
//! length) or `image`, output `embedding`, batch fixed at 1.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{
    spec::{Batch, Interpolation, ModelSpec, Padding, Pooling, ResizeMode, SpecialTokens, TextSpec, VisionSpec, SPEC_FORMAT},
    text_clean::Clean,
};
use crate::{EngineError, Result};

/// The open_clip model config.
pub const CONFIG: &str = "config.json";
/// The text tower.
pub const TEXT_MODEL: &str = "textual/model.onnx";
/// The tokenizer, as `transformers` saves it.
pub const TOKENIZER: &str = "textual/tokenizer.json";
/// The tokenizer's settings (its pad token).
pub const TOKENIZER_CONFIG: &str = "textual/tokenizer_config.json";
/// The vision tower.
pub const VISION_MODEL: &str = "visual/model.onnx";
/// open_clip's preprocessing config for the pretrained weights.
pub const PREPROCESS_CONFIG: &str = "visual/preprocess_cfg.json";
/// Every file of the layout, as the Hub repository holds them.
pub const FILES: [&str; 6] = [CONFIG, TEXT_MODEL, TOKENIZER, TOKENIZER_CONFIG, VISION_MODEL, PREPROCESS_CONFIG];

/// Whether `dir` is laid out as Immich's CLIP models are.
pub fn is_immich_layout(dir: &Path) -> bool {
    [CONFIG, TEXT_MODEL, VISION_MODEL, PREPROCESS_CONFIG].iter().all(|f| dir.join(f).is_file())
}

#[derive(Deserialize)]
struct OpenClipConfig {
    embed_dim: usize,
    vision_cfg: VisionCfg,
    text_cfg: TextCfg,
}

#[derive(Deserialize)]
struct VisionCfg {
    image_size: Value,
}

#[derive(Deserialize)]
struct TextCfg {
    #[serde(default = "clip_context_length")]
    context_length: usize,
    /// Set for towers with a Hugging Face tokenizer; absent for CLIP's own byte-pair encoding.
    hf_tokenizer_name: Option<String>,
    #[serde(default)]
    tokenizer_kwargs: TokenizerKwargs,
}

#[derive(Deserialize, Default)]
struct TokenizerKwargs {
    clean: Option<Clean>,
}

fn clip_context_length() -> usize {
    77
}

#[derive(Deserialize)]
struct PreprocessCfg {
    size: Value,
    mean: [f32; 3],
    std: [f32; 3],
    #[serde(default = "bicubic")]
    interpolation: String,
    #[serde(default = "shortest")]
    resize_mode: String,
}

fn bicubic() -> String {
    "bicubic".into()
}

fn shortest() -> String {
    "shortest".into()
}

/// The description of the Immich-layout folder `dir`, derived from its config files.
pub fn derive_spec(dir: &Path) -> Result<ModelSpec> {
    let config: OpenClipConfig = read_json(dir, CONFIG)?;
    let preprocess: PreprocessCfg = read_json(dir, PREPROCESS_CONFIG)?;
    let bad = |file: &str, reason: String| EngineError::Model { path: dir.join(file), reason };
    let image_size = square_side(&preprocess.size)
        .or_else(|| square_side(&config.vision_cfg.image_size))
        .ok_or_else(|| bad(PREPROCESS_CONFIG, format!("size {} is not one square side", preprocess.size)))?;
    let resize = match preprocess.resize_mode.as_str() {
        "shortest" => ResizeMode::Shortest,
        "squash" => ResizeMode::Squash,
        other => return Err(bad(PREPROCESS_CONFIG, format!("resize_mode {other:?} is not supported (shortest, squash)"))),
    };
    let interpolation = match preprocess.interpolation.as_str() {
        "bicubic" => Interpolation::Bicubic,
        "bilinear" => Interpolation::Bilinear,
        other => return Err(bad(PREPROCESS_CONFIG, format!("interpolation {other:?} is not supported (bicubic, bilinear)"))),
    };
    let text_cfg = &config.text_cfg;
    // open_clip's own CLIP tokenizer lowercases and pads with 0; its Hugging Face tokenizers keep
    // case by default and pad with the tokenizer's pad token.
    let (clean, pad_id) = match &text_cfg.hf_tokenizer_name {
        None => (text_cfg.tokenizer_kwargs.clean.unwrap_or(Clean::Lower), 0),
        Some(_) => (text_cfg.tokenizer_kwargs.clean.unwrap_or(Clean::Whitespace), pad_token_id(dir)?),
    };
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(ModelSpec {
        format: SPEC_FORMAT,
        family: family_of(&name, text_cfg).into(),
        description: String::new(),
        source: format!("Immich layout folder {}", dir.display()),
        revision: None,
        license: "see the model card".into(),
        name,
        embedding_dim: config.embed_dim,
        image_size,
        image_mean: preprocess.mean,
        image_std: preprocess.std,
        context_length: text_cfg.context_length,
        text: TextSpec {
            file: TEXT_MODEL.into(),
            input_ids: "text".into(),
            attention_mask: None,
            output: "embedding".into(),
            int8_file: None,
            clean,
            special_tokens: SpecialTokens::Tokenizer,
            padding: Padding::Fixed,
            pad_id,
            pooling: Pooling::Done,
        },
        vision: VisionSpec { file: VISION_MODEL.into(), input: "image".into(), output: "embedding".into(), resize, interpolation, ..Default::default() },
        tokenizer: TOKENIZER.into(),
        sha256: Default::default(),
        batch: Batch::One,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<T> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| EngineError::Io { path: path.clone(), source })?;
    serde_json::from_str(&text).map_err(|e| EngineError::Model { path, reason: e.to_string() })
}

/// `224` or `[224, 224]`.
fn square_side(size: &Value) -> Option<u32> {
    match size {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::Array(sides) => match sides.as_slice() {
            [h, w] if h == w => square_side(h),
            _ => None,
        },
        _ => None,
    }
}

/// The id of the tokenizer config's pad token (a string, or `{"content": ...}` in older files).
fn pad_token_id(dir: &Path) -> Result<i64> {
    let config: Value = read_json(dir, TOKENIZER_CONFIG)?;
    let bad = |reason: String| EngineError::Model { path: dir.join(TOKENIZER_CONFIG), reason };
    let token = match &config["pad_token"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.get("content").and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => return Err(bad("no pad_token".into())),
    };
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join(TOKENIZER)).map_err(|e| EngineError::Model {
        path: dir.join(TOKENIZER),
        reason: e.to_string(),
    })?;
    tokenizer.token_to_id(&token).map(i64::from).ok_or_else(|| bad(format!("the pad token {token:?} is not in the tokenizer")))
}

fn family_of(name: &str, text_cfg: &TextCfg) -> &'static str {
    let tokenizer = text_cfg.hf_tokenizer_name.as_deref().unwrap_or_default().to_ascii_lowercase();
    if tokenizer.contains("siglip") || name.contains("SigLIP") {
        "siglip"
    } else if tokenizer.contains("xlm-roberta") {
        "xlm-roberta"
    } else if tokenizer.contains("nllb") {
        "nllb"
    } else if tokenizer.is_empty() {
        "open_clip"
    } else {
        "open_clip-hf"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_sizes_come_as_a_number_or_a_pair() {
        assert_eq!(square_side(&serde_json::json!(224)), Some(224));
        assert_eq!(square_side(&serde_json::json!([256, 256])), Some(256));
        assert_eq!(square_side(&serde_json::json!([224, 256])), None);
    }

    #[test]
    fn an_unsupported_resize_mode_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for file in FILES {
            std::fs::create_dir_all(dir.path().join(file).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let config = r#"{"embed_dim": 8, "vision_cfg": {"image_size": 224}, "text_cfg": {}}"#;
        std::fs::write(dir.path().join(CONFIG), config).unwrap();
        let preprocess = r#"{"size": 224, "mean": [0.5,0.5,0.5], "std": [0.5,0.5,0.5], "resize_mode": "longest"}"#;
        std::fs::write(dir.path().join(PREPROCESS_CONFIG), preprocess).unwrap();
        assert!(is_immich_layout(dir.path()));
        let err = derive_spec(dir.path()).unwrap_err().to_string();
        assert!(err.contains("resize_mode \"longest\""), "{err}");
    }
}
