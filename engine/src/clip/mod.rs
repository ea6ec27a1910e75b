//! CLIP through ONNX Runtime: text and images in, L2-normalised embeddings out.

pub mod budget;
pub mod pipeline;
pub mod preprocess;
pub mod session;
pub mod spec;
pub mod text_clean;
pub mod tokenizer;

use std::path::{Path, PathBuf};

use ort::value::Tensor;

use self::{
    preprocess::{Prepared, Preprocess},
    session::{inference_error, LoadedSession, Placement},
    spec::ModelSpec,
    tokenizer::ClipTokenizer,
};
use super::{Device, EngineError, Result};

/// How to run the encoders.
#[derive(Debug, Clone, Default)]
pub struct ClipOptions {
    /// Where to run the encoders (`auto`: CUDA when usable, else the CPU).
    pub device: Device,
    /// Intra-op threads per session; 0 lets ONNX Runtime decide.
    pub threads: usize,
    /// The ONNX Runtime library (the first one loaded serves the whole process); `None` looks
    /// in the usual places.
    pub runtime_library: Option<PathBuf>,
    /// Decode every image at full size, as open_clip does, instead of decoding big JPEGs at a
    /// DCT scale (1/2 to 1/8) that keeps their short side at least twice the input size.
    pub exact_decode: bool,
    /// Encode queries with the model's int8 text encoder when it has one (see
    /// [`spec::TextSpec::int8_file`]).
    pub text_int8: bool,
}

/// A loaded CLIP model: tokenizer, text encoder, image preprocessing and vision encoder.
pub struct Clip {
    dir: PathBuf,
    spec: ModelSpec,
    tokenizer: ClipTokenizer,
    preprocess: Preprocess,
    text: Encoder,
    vision: Encoder,
    attention_mask: Option<String>,
}

/// One ONNX session and the names of the tensors it reads and writes.
struct Encoder {
    session: LoadedSession,
    input: String,
    output: String,
}

impl Clip {
    /// Loads the model in `dir`: its `clipfind-model.json`, tokenizer and both ONNX encoders.
    pub fn load(dir: &Path, options: ClipOptions) -> Result<Clip> {
        let spec = ModelSpec::read(dir)?;
        let tokenizer = ClipTokenizer::from_file(&dir.join(&spec.tokenizer), spec.context_length)?;
        let preprocess = Preprocess::new(spec.image_size, spec.image_mean, spec.image_std).with_scaled_decode(!options.exact_decode);

        let text_file = match (&spec.text.int8_file, options.text_int8) {
            (Some(int8), true) => int8,
            (None, true) => {
                tracing::warn!("{} has no int8 text encoder (models/tools/quantize_text.py makes one); using fp32", spec.name);
                &spec.text.file
            }
            (_, false) => &spec.text.file,
        };
        let text_session = session::open(&dir.join(text_file), &options, session::Spin::No)?;
        let inputs: Vec<(String, usize)> = text_session.input_names().into_iter().map(|n| (n, 2)).collect();
        let missing = |what: &str, file: &str| EngineError::Model {
            path: dir.join(file),
            reason: format!("no {what} found among the model's inputs and outputs"),
        };
        let ids = session::pick_name(Some(&spec.text.input_ids), &inputs, |n, _| n.contains("input_ids"))
            .ok_or_else(|| missing("input_ids input", &spec.text.file))?;
        let attention_mask = session::pick_name(spec.text.attention_mask.as_deref(), &inputs, |n, _| {
            n.contains("attention_mask")
        });
        let text_out = session::pick_name(Some(&spec.text.output), &text_session.output_names(), |n, r| {
            n.contains("text_embeds") || r == 2
        })
        .ok_or_else(|| missing("2-d text embedding output", &spec.text.file))?;

        let vision_session = session::open(&dir.join(&spec.vision.file), &options, session::Spin::Yes)?;
        let v_inputs: Vec<(String, usize)> = vision_session.input_names().into_iter().map(|n| (n, 4)).collect();
        let pixels = session::pick_name(Some(&spec.vision.input), &v_inputs, |n, _| n.contains("pixel_values"))
            .ok_or_else(|| missing("pixel_values input", &spec.vision.file))?;
        let vision_out = session::pick_name(Some(&spec.vision.output), &vision_session.output_names(), |n, r| {
            n.contains("image_embeds") || r == 2
        })
        .ok_or_else(|| missing("2-d image embedding output", &spec.vision.file))?;

        Ok(Clip {
            dir: dir.to_path_buf(),
            spec,
            tokenizer,
            preprocess,
            text: Encoder { session: text_session, input: ids, output: text_out },
            vision: Encoder { session: vision_session, input: pixels, output: vision_out },
            attention_mask,
        })
    }

    /// The model's description, from its `clipfind-model.json`.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The model folder it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Length of the embeddings this model produces.
    pub fn dim(&self) -> usize {
        self.spec.embedding_dim
    }

    /// Where the vision encoder actually runs, with `auto` resolved.
    pub fn placement(&self) -> Placement {
        self.vision.session.placement
    }

    /// The tokenizer that turns text into the text encoder's token ids.
    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    /// The image preprocessing the vision encoder expects.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// The normalised embedding of one text.
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed_texts(&[text])?.pop().expect("one text in, one embedding out"))
    }

    /// Embeds texts in one batch, right-padded with 0 to the longest: the causal mask keeps
    /// padding after the end token from changing the result, and short queries stay short.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let rows = texts.iter().map(|t| self.tokenizer.encode(t)).collect::<Result<Vec<_>>>()?;
        self.embed_token_rows(&rows, None)
    }

    /// Runs the text encoder on token rows, padded with 0 to `pad_to` (or the longest row).
    pub fn embed_token_rows(&self, rows: &[Vec<i64>], pad_to: Option<usize>) -> Result<Vec<Vec<f32>>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let width = pad_to.unwrap_or(0).max(rows.iter().map(Vec::len).max().unwrap_or(0));
        let mut ids = vec![0i64; rows.len() * width];
        let mut mask = vec![0i64; rows.len() * width];
        for (r, row) in rows.iter().enumerate() {
            ids[r * width..r * width + row.len()].copy_from_slice(row);
            mask[r * width..r * width + row.len()].fill(1);
        }
        let err = inference_error("text encoding");
        let shape = [rows.len(), width];
        let mut inputs = vec![(
            self.text.input.clone(),
            Tensor::from_array((shape, ids)).map_err(|e| err(e.to_string()))?.into_dyn(),
        )];
        if let Some(name) = &self.attention_mask {
            inputs.push((name.clone(), Tensor::from_array((shape, mask)).map_err(|e| err(e.to_string()))?.into_dyn()));
        }
        self.text.run(inputs, rows.len(), self.dim(), "text encoding")
    }

    /// Embeds prepared images in one batch.
    pub fn embed_prepared(&self, images: &[Prepared]) -> Result<Vec<Vec<f32>>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let per = self.preprocess.len();
        let mut pixels = Vec::with_capacity(images.len() * per);
        for image in images {
            pixels.extend_from_slice(&image.pixels);
        }
        let s = self.spec.image_size as usize;
        let err = inference_error("image encoding");
        let tensor = Tensor::from_array(([images.len(), 3, s, s], pixels)).map_err(|e| err(e.to_string()))?;
        self.vision.run(vec![(self.vision.input.clone(), tensor.into_dyn())], images.len(), self.dim(), "image encoding")
    }

    /// Decodes, prepares and embeds one image file.
    pub fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>> {
        let prepared = self.preprocess.load(path)?;
        Ok(self.embed_prepared(std::slice::from_ref(&prepared))?.pop().expect("one image in, one out"))
    }
}

impl Encoder {
    fn run(
        &self,
        inputs: Vec<(String, ort::value::DynValue)>,
        batch: usize,
        dim: usize,
        stage: &'static str,
    ) -> Result<Vec<Vec<f32>>> {
        let err = inference_error(stage);
        let mut session = self.session.lock();
        let outputs = session.run(inputs).map_err(|e| err(e.to_string()))?;
        let value = outputs.get(&self.output).ok_or_else(|| err(format!("no output {}", self.output)))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| err(e.to_string()))?;
        if shape.len() != 2 || shape[0] as usize != batch || shape[1] as usize != dim {
            return Err(err(format!("output shape {shape:?}, expected [{batch}, {dim}]")));
        }
        Ok(data.chunks_exact(dim).map(normalised).collect())
    }
}

/// L2-normalised copy (a zero vector stays zero rather than becoming NaN).
pub fn normalised(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 { v.iter().map(|x| x / norm).collect() } else { v.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::normalised;

    #[test]
    fn normalised_has_unit_length_and_keeps_zero() {
        let v = normalised(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        assert_eq!(normalised(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
