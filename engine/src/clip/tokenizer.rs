//! Text to token ids as each model family's reference tokenizer gives them: the family's text
//! cleaning, then the `tokenizers` JSON (byte-pair, SentencePiece or WordPiece), framed by the
//! start and end tokens and cut to the context length with the end token kept.

use std::path::Path;

use tokenizers::{TruncationParams, TruncationStrategy};

use super::{
    spec::{ModelSpec, Padding, SpecialTokens},
    text_clean::Clean,
};
use crate::{EngineError, Result};

const START: &str = "<|startoftext|>";
const END: &str = "<|endoftext|>";

/// A model's text tokenizer: text to the token ids its text encoder takes.
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    clean: Clean,
    /// CLIP's start and end ids when clipfind adds them; `None` when the tokenizer JSON does.
    clip_frame: Option<(i64, i64)>,
    context_length: usize,
    padding: Padding,
    pad_id: i64,
}

impl ClipTokenizer {
    /// CLIP's tokenizer from a `tokenizers` JSON file: encoded texts hold at most
    /// `context_length` ids (at least 2), framed by `<|startoftext|>` and `<|endoftext|>`.
    pub fn from_file(path: &Path, context_length: usize) -> Result<Self> {
        Self::build(path, context_length, Clean::Lower, SpecialTokens::Clip, Padding::Longest, 0)
    }

    /// The tokenizer `spec` describes, its JSON file found in the model folder `dir`.
    pub fn for_model(dir: &Path, spec: &ModelSpec) -> Result<Self> {
        let text = &spec.text;
        Self::build(&dir.join(&spec.tokenizer), spec.context_length, text.clean, text.special_tokens, text.padding, text.pad_id)
    }

    fn build(path: &Path, context_length: usize, clean: Clean, specials: SpecialTokens, padding: Padding, pad_id: i64) -> Result<Self> {
        let bad = |reason: String| EngineError::Model { path: path.to_path_buf(), reason };
        if context_length < 2 {
            return Err(bad(format!("context length {context_length} is too short")));
        }
        let mut inner = tokenizers::Tokenizer::from_file(path).map_err(|e| bad(e.to_string()))?;
        let clip_frame = match specials {
            SpecialTokens::Clip => {
                let id = |token: &str| inner.token_to_id(token).map(i64::from).ok_or_else(|| bad(format!("no {token} token")));
                Some((id(START)?, id(END)?))
            }
            SpecialTokens::Tokenizer => {
                // As `transformers` truncates: the body is cut so the added tokens still fit.
                let truncation = TruncationParams {
                    max_length: context_length,
                    strategy: TruncationStrategy::LongestFirst,
                    ..Default::default()
                };
                inner.with_truncation(Some(truncation)).map_err(|e| bad(e.to_string()))?;
                None
            }
        };
        inner.with_padding(None);
        Ok(ClipTokenizer { inner, clean, clip_frame, context_length, padding, pad_id })
    }

    /// Token ids of `text` as the model's reference tokenizer gives them, without padding.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let cleaned = self.clean.apply(text);
        let add_special_tokens = self.clip_frame.is_none();
        let encoding = self
            .inner
            .encode(cleaned.as_str(), add_special_tokens)
            .map_err(|e| EngineError::Tokenize(e.to_string()))?;
        let ids = encoding.get_ids().iter().map(|&id| i64::from(id));
        let Some((start, end)) = self.clip_frame else { return Ok(ids.collect()) };
        let keep = encoding.get_ids().len().min(self.context_length - 2);
        let mut framed = Vec::with_capacity(keep + 2);
        framed.push(start);
        framed.extend(ids.take(keep));
        framed.push(end);
        Ok(framed)
    }

    /// `ids` padded as the text encoder takes them: to `width`, or to the context length when
    /// the model pads to a fixed length.
    pub fn pad(&self, ids: &[i64], width: usize) -> Vec<i64> {
        let width = match self.padding {
            Padding::Fixed => self.context_length,
            Padding::Longest => width.max(ids.len()),
        };
        let mut row = ids.to_vec();
        row.resize(width.max(ids.len()), self.pad_id);
        row
    }

    /// Token ids of `text` padded as the model's reference tokenizer pads them (what open_clip's
    /// `tokenize` returns for fixed-length models).
    pub fn encode_padded(&self, text: &str) -> Result<Vec<i64>> {
        Ok(self.pad(&self.encode(text)?, 0))
    }

    /// Most ids [`ClipTokenizer::encode`] returns, start and end tokens included.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Whether rows always have the context length.
    pub fn fixed_length(&self) -> bool {
        self.padding == Padding::Fixed
    }
}
