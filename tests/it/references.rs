//! The reference fixtures the parity tests compare against (made by the scripts in
//! models/tools/ with each model family's own Python code), and how they compare.

use serde::Deserialize;

/// One text: its token ids as the reference tokenizer gives them, and its embedding.
#[derive(Deserialize)]
pub struct TextRef {
    pub text: String,
    pub ids: Vec<i64>,
    pub embedding: Vec<f32>,
}

/// One image file: its upright size (where recorded) and its embedding.
#[derive(Deserialize)]
pub struct ImageRef {
    pub file: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    pub embedding: Vec<f32>,
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}
