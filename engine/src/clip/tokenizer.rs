//! CLIP's tokenizer: open_clip's cleaning, then byte-pair encoding through `tokenizers`, framed
//! by the start and end tokens and cut to the context length with the end token last.

use std::path::Path;

use super::text_clean;
use crate::{EngineError, Result};

const START: &str = "<|startoftext|>";
const END: &str = "<|endoftext|>";

/// CLIP's text tokenizer: text to the token ids the text encoder takes.
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    start: i64,
    end: i64,
    context_length: usize,
}

impl ClipTokenizer {
    /// Loads a `tokenizers` JSON file; encoded texts hold at most `context_length` ids (at least 2).
    pub fn from_file(path: &Path, context_length: usize) -> Result<Self> {
        let bad = |reason: String| EngineError::Model { path: path.to_path_buf(), reason };
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| bad(e.to_string()))?;
        let id = |token: &str| {
            inner.token_to_id(token).map(i64::from).ok_or_else(|| bad(format!("no {token} token")))
        };
        let (start, end) = (id(START)?, id(END)?);
        if context_length < 2 {
            return Err(bad(format!("context length {context_length} is too short")));
        }
        Ok(ClipTokenizer { inner, start, end, context_length })
    }

    /// Token ids of `text` as open_clip's `tokenize()` gives them, without the zero padding.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let cleaned = text_clean::clean(text);
        let encoding = self
            .inner
            .encode(cleaned.as_str(), false)
            .map_err(|e| EngineError::Tokenize(e.to_string()))?;
        let body = encoding.get_ids();
        let keep = body.len().min(self.context_length - 2);
        let mut ids = Vec::with_capacity(keep + 2);
        ids.push(self.start);
        ids.extend(body[..keep].iter().map(|&id| i64::from(id)));
        ids.push(self.end);
        Ok(ids)
    }

    /// Most ids [`ClipTokenizer::encode`] returns, start and end tokens included.
    pub fn context_length(&self) -> usize {
        self.context_length
    }
}
