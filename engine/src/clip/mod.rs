//! CLIP through ONNX Runtime: text and images in, L2-normalised embeddings out.

pub mod budget;
mod folder;
pub mod formats;
pub mod immich;
pub mod pil_resize;
pub mod preprocess;
pub mod session;
pub mod spec;
pub mod text_clean;
pub mod tokenizer;

pub use session::ClipOptions;

use std::path::{Path, PathBuf};

use ort::value::{Tensor, TensorElementType};

use self::{
    preprocess::{Prepared, Preprocess},
    session::{inference_error, LoadedSession, Placement},
    spec::{Batch, ModelSpec, Pooling},
    tokenizer::ClipTokenizer,
};
use super::{EngineError, Result};

/// A loaded CLIP model: tokenizer, text encoder, image preprocessing and vision encoder.
pub struct Clip {
    dir: PathBuf,
    spec: ModelSpec,
    tokenizer: ClipTokenizer,
    preprocess: Preprocess,
    text: Encoder,
    vision: Encoder,
    /// The text encoder's file: the spec's fp32 one or its int8 copy.
    text_file: String,
    /// The image encoder's file: the spec's fp32 one or its int8 copy.
    vision_file: String,
    attention_mask: Option<String>,
    /// Token ids go in as int32 (Immich's exports) rather than int64.
    ids_as_i32: bool,
}

/// One ONNX session and the names of the tensors it reads and writes.
struct Encoder {
    session: LoadedSession,
    input: String,
    output: String,
}

/// The image encoder to load: the int8 copy when asked for and it held the fidelity bar when it
/// was made (`models/tools/quantize_image.py` measures it), else the fp32 file.
fn image_encoder_file(spec: &ModelSpec, int8: bool) -> String {
    let vision = &spec.vision;
    if !int8 {
        return vision.file.clone();
    }
    let shortfall = match (&vision.int8_file, &vision.int8_fidelity) {
        (None, _) => "it has no int8 image encoder (models/tools/quantize_image.py makes one)".to_string(),
        (Some(_), None) => "its int8 image encoder was never measured against fp32".to_string(),
        (Some(file), Some(fidelity)) => match fidelity.shortfall() {
            None => return file.clone(),
            Some(why) => format!("its int8 image encoder misses the bar: {why}"),
        },
    };
    tracing::warn!("{}: {shortfall}; images are encoded in fp32", spec.name);
    vision.file.clone()
}

/// Runs `embed` on one item at a time when the model's batch is fixed at one.
fn per_item<T>(batch: Batch, items: &[T], embed: impl Fn(&[T]) -> Result<Vec<Vec<f32>>>) -> Result<Vec<Vec<f32>>> {
    match batch {
        Batch::One if items.len() > 1 => {
            items.chunks(1).map(|one| Ok(embed(one)?.pop().expect("one in, one out"))).collect()
        }
        _ => embed(items),
    }
}

/// Least cosine to fp32 an int8 encoder may give a probe on this machine.
const MIN_PROBE_COSINE: f32 = 0.99;

impl Clip {
    /// Loads the model in `dir`: its `clipfind-model.json`, tokenizer and both ONNX encoders.
    /// An int8 encoder asked for is first checked against fp32 on this machine (see
    /// [`Clip::int8_holds_here`]): one that does not hold is replaced by fp32, with a warning.
    /// The check loads the fp32 encoders beside them for a moment (for ViT-B/32, 600 MB).
    pub fn load(dir: &Path, options: ClipOptions) -> Result<Clip> {
        let mut clip = Self::load_as_asked(dir, &options)?;
        let (text_int8, image_int8) = (clip.text_int8(), clip.image_int8());
        if !(text_int8 || image_int8) {
            return Ok(clip);
        }
        let fp32 = Self::load_as_asked(dir, &ClipOptions { text_int8: false, image_int8: false, ..options })?;
        let (text_cosine, image_cosine) = clip.int8_holds_here(&fp32)?;
        if text_int8 && text_cosine < MIN_PROBE_COSINE {
            tracing::warn!("{}: the int8 text encoder gives cosine {text_cosine:.3} to fp32 on this CPU (at least {MIN_PROBE_COSINE} is needed): queries are encoded in fp32", clip.spec.name);
            (clip.text, clip.text_file) = (fp32.text, fp32.text_file);
        }
        if image_int8 && image_cosine < MIN_PROBE_COSINE {
            tracing::warn!("{}: the int8 image encoder gives cosine {image_cosine:.3} to fp32 on this CPU (at least {MIN_PROBE_COSINE} is needed): images are encoded in fp32", clip.spec.name);
            (clip.vision, clip.vision_file) = (fp32.vision, fp32.vision_file);
        }
        Ok(clip)
    }

    /// The least cosine between this model's encoders and `fp32`'s on a few probes (texts, and
    /// images of gradients), text then image. Int8 kernels differ by CPU: without VNNI, x86's
    /// u8 x s8 products sum in 16 bits and can saturate, so an encoder measured on one machine
    /// is checked again on the one it runs on.
    fn int8_holds_here(&self, fp32: &Clip) -> Result<(f32, f32)> {
        let texts = ["a photo of a dog", "two people on a beach at sunset", "a red circle on a blue background"];
        let least = |a: Vec<Vec<f32>>, b: Vec<Vec<f32>>| a.iter().zip(&b).map(|(x, y)| dot(x, y)).fold(1.0f32, f32::min);
        let text = least(self.embed_texts(&texts)?, fp32.embed_texts(&texts)?);
        let probes: Vec<Prepared> = (0..2u32)
            .map(|k| {
                let image = image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([(x * 255 / 320) as u8, (y * 255 / 240) as u8, ((x + y * k + 60 * k) % 256) as u8]));
                let pixels = self.preprocess.prepare(image::DynamicImage::ImageRgb8(image), preprocess::Source::Direct).map_err(inference_error("image probe"))?;
                Ok(Prepared { pixels, width: 320, height: 240 })
            })
            .collect::<Result<_>>()?;
        let image = least(self.embed_prepared(&probes)?, fp32.embed_prepared(&probes)?);
        Ok((text, image))
    }

    /// Whether queries are encoded by the int8 copy of the text encoder.
    pub fn text_int8(&self) -> bool {
        self.spec.text.int8_file.as_deref() == Some(self.text_file.as_str())
    }

    fn load_as_asked(dir: &Path, options: &ClipOptions) -> Result<Clip> {
        let spec = ModelSpec::read(dir)?;
        let tokenizer = ClipTokenizer::for_model(dir, &spec)?;
        let preprocess = Preprocess::new(spec.image_size, spec.image_mean, spec.image_std)
            .with_resize(spec.vision.resize, spec.vision.interpolation)
            .with_scaled_decode(!options.exact_decode);

        let text_file = match (&spec.text.int8_file, options.text_int8) {
            (Some(int8), true) => int8,
            (None, true) => {
                tracing::warn!("{} has no int8 text encoder (models/tools/quantize_text.py makes one); using fp32", spec.name);
                &spec.text.file
            }
            (_, false) => &spec.text.file,
        };
        let text_session = session::open(&dir.join(text_file), options, session::Spin::No)?;
        let text_file = text_file.clone();
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
        let text_rank = if spec.text.pooling == Pooling::Done { 2 } else { 3 };
        let text_out = session::pick_name(Some(&spec.text.output), &text_session.output_names(), |n, r| {
            (n.contains("text_embeds") && spec.text.pooling == Pooling::Done) || r == text_rank
        })
        .ok_or_else(|| missing("2-d text embedding output", &spec.text.file))?;

        let ids_as_i32 = text_session.input_type(&ids) == Some(TensorElementType::Int32);
        check_fixed_shapes(dir, &spec, &text_session, &ids, tokenizer.fixed_length())?;

        let vision_file = image_encoder_file(&spec, options.image_int8);
        let vision_session = session::open(&dir.join(&vision_file), options, session::Spin::Yes)?;
        let v_inputs: Vec<(String, usize)> = vision_session.input_names().into_iter().map(|n| (n, 4)).collect();
        let pixels = session::pick_name(Some(&spec.vision.input), &v_inputs, |n, _| n.contains("pixel_values"))
            .ok_or_else(|| missing("pixel_values input", &spec.vision.file))?;
        let vision_out = session::pick_name(Some(&spec.vision.output), &vision_session.output_names(), |n, r| {
            n.contains("image_embeds") || r == 2
        })
        .ok_or_else(|| missing("2-d image embedding output", &spec.vision.file))?;
        if spec.batch == Batch::Dynamic && vision_session.input_dims(&pixels).and_then(|d| d.first().copied()) == Some(1) {
            return Err(EngineError::Model {
                path: dir.join(&spec.vision.file),
                reason: "the vision encoder takes one image per run: its description needs \"batch\": \"one\"".into(),
            });
        }

        Ok(Clip {
            dir: dir.to_path_buf(),
            spec,
            tokenizer,
            preprocess,
            text: Encoder { session: text_session, input: ids, output: text_out },
            vision: Encoder { session: vision_session, input: pixels, output: vision_out },
            text_file,
            vision_file,
            attention_mask,
            ids_as_i32,
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

    /// What makes this model's embeddings this model's: its files' hashes, with the image
    /// encoder it loaded (fp32 or int8). An index records it.
    pub fn identity(&self) -> Result<String> {
        self.spec.identity_with(&self.dir, &self.vision_file)
    }

    /// Whether images are encoded by the int8 copy of the image encoder.
    pub fn image_int8(&self) -> bool {
        self.spec.vision.int8_file.as_deref() == Some(self.vision_file.as_str())
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

    /// Embeds texts in one batch (when the model takes batches), padded as the model pads:
    /// CLIP's rows only to the longest (its causal mask keeps padding after the end token from
    /// changing the result, and short queries stay short), other families to their context length.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let rows = texts.iter().map(|t| self.tokenizer.encode(t)).collect::<Result<Vec<_>>>()?;
        self.embed_token_rows(&rows, None)
    }

    /// Runs the text encoder on token rows, padded to `pad_to` (or the longest row, or the
    /// context length for fixed-length models) with the model's pad id.
    pub fn embed_token_rows(&self, rows: &[Vec<i64>], pad_to: Option<usize>) -> Result<Vec<Vec<f32>>> {
        per_item(self.spec.batch, rows, |rows| self.encode_token_batch(rows, pad_to))
    }

    fn encode_token_batch(&self, rows: &[Vec<i64>], pad_to: Option<usize>) -> Result<Vec<Vec<f32>>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let longest = pad_to.unwrap_or(0).max(rows.iter().map(Vec::len).max().unwrap_or(0));
        let padded: Vec<Vec<i64>> = rows.iter().map(|row| self.tokenizer.pad(row, longest)).collect();
        let width = padded[0].len();
        let ids: Vec<i64> = padded.concat();
        let mask: Vec<i64> = rows.iter().flat_map(|row| (0..width).map(|i| i64::from(i < row.len()))).collect();
        let shape = [rows.len(), width];
        let mut inputs = vec![(self.text.input.clone(), self.token_tensor(shape, ids)?)];
        if let Some(name) = &self.attention_mask {
            inputs.push((name.clone(), self.token_tensor(shape, mask.clone())?));
        }
        let (out_shape, data) = self.text.run(inputs, "text encoding")?;
        let pooled = pool(self.spec.text.pooling, &out_shape, &data, &mask, self.dim()).map_err(inference_error("text encoding"))?;
        Ok(pooled.chunks_exact(self.dim()).map(normalised).collect())
    }

    /// Ids or a mask as the text encoder's input type (int64, or int32 for Immich's exports).
    fn token_tensor(&self, shape: [usize; 2], values: Vec<i64>) -> Result<ort::value::DynValue> {
        let err = inference_error("text encoding");
        if self.ids_as_i32 {
            let narrow: Vec<i32> = values.into_iter().map(|v| v as i32).collect();
            Ok(Tensor::from_array((shape, narrow)).map_err(|e| err(e.to_string()))?.into_dyn())
        } else {
            Ok(Tensor::from_array((shape, values)).map_err(|e| err(e.to_string()))?.into_dyn())
        }
    }

    /// Embeds prepared images in one batch (or one at a time, when the model takes one).
    pub fn embed_prepared(&self, images: &[Prepared]) -> Result<Vec<Vec<f32>>> {
        per_item(self.spec.batch, images, |images| self.encode_image_batch(images))
    }

    fn encode_image_batch(&self, images: &[Prepared]) -> Result<Vec<Vec<f32>>> {
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
        let (shape, data) = self.vision.run(vec![(self.vision.input.clone(), tensor.into_dyn())], "image encoding")?;
        let flat = pool(Pooling::Done, &shape, &data, &[], self.dim()).map_err(err)?;
        Ok(flat.chunks_exact(self.dim()).map(normalised).collect())
    }

    /// Decodes, prepares and embeds one image file.
    pub fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>> {
        let prepared = self.preprocess.load(path)?;
        Ok(self.embed_prepared(std::slice::from_ref(&prepared))?.pop().expect("one image in, one out"))
    }
}

impl Encoder {
    /// Runs the session; returns the output's shape and values.
    fn run(&self, inputs: Vec<(String, ort::value::DynValue)>, stage: &'static str) -> Result<(Vec<i64>, Vec<f32>)> {
        let err = inference_error(stage);
        let mut session = self.session.lock();
        let outputs = session.run(inputs).map_err(|e| err(e.to_string()))?;
        let value = outputs.get(&self.output).ok_or_else(|| err(format!("no output {}", self.output)))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| err(e.to_string()))?;
        Ok((shape.to_vec(), data.to_vec()))
    }
}

/// One `dim`-long row per input from an encoder's output: `[batch, dim]` as it is, or
/// `[batch, seq, dim]` pooled over the tokens `mask` (`batch * seq`, 1 for real tokens) keeps.
fn pool(pooling: Pooling, shape: &[i64], data: &[f32], mask: &[i64], dim: usize) -> std::result::Result<Vec<f32>, String> {
    let wrong = || format!("output shape {shape:?} does not fit {pooling:?} pooling to {dim} values");
    match (pooling, shape) {
        (Pooling::Done, &[_, d]) if d as usize == dim => Ok(data.to_vec()),
        (Pooling::Cls | Pooling::Mean, &[batch, seq, d]) if d as usize == dim && mask.len() == (batch * seq) as usize => {
            let (seq, mut out) = (seq as usize, Vec::with_capacity(batch as usize * dim));
            for (tokens, keep) in data.chunks_exact(seq * dim).zip(mask.chunks_exact(seq)) {
                let rows = tokens.chunks_exact(dim).zip(keep);
                let (sum, count) = match pooling {
                    Pooling::Cls => (tokens[..dim].to_vec(), 1.0),
                    _ => rows.filter(|(_, k)| **k == 1).fold((vec![0.0; dim], 0.0), |(mut sum, n), (row, _)| {
                        sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
                        (sum, n + 1.0)
                    }),
                };
                out.extend(sum.iter().map(|s| s / f32::max(count, 1.0)));
            }
            Ok(out)
        }
        _ => Err(wrong()),
    }
}

/// Refuses a model whose ONNX input has a fixed sequence length the spec does not pad to.
fn check_fixed_shapes(dir: &Path, spec: &ModelSpec, text: &LoadedSession, ids: &str, fixed_length: bool) -> Result<()> {
    let dims = text.input_dims(ids).unwrap_or_default();
    let bad = |reason: String| EngineError::Model { path: dir.join(&spec.text.file), reason };
    match dims.as_slice() {
        [batch, _] if *batch > 1 => Err(bad(format!("the text encoder takes batches of exactly {batch}"))),
        [batch, _] if *batch == 1 && spec.batch == Batch::Dynamic => {
            Err(bad("the text encoder takes one text per run: its description needs \"batch\": \"one\"".into()))
        }
        [_, seq] if *seq > 0 && (!fixed_length || *seq as usize != spec.context_length) => Err(bad(format!(
            "the text encoder takes exactly {seq} tokens: its description needs \"padding\": \"fixed\" and context_length {seq}"
        ))),
        _ => Ok(()),
    }
}

/// L2-normalised copy (a zero vector stays zero rather than becoming NaN).
pub fn normalised(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 { v.iter().map(|x| x / norm).collect() } else { v.to_vec() }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::{normalised, pool, Pooling};

    #[test]
    fn token_outputs_pool_over_real_tokens_only() {
        // Two rows of three tokens, two values each; row 1 has one padding token.
        let data = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let mask = [1, 1, 0, 1, 1, 1];
        let shape = [2, 3, 2];
        assert_eq!(pool(Pooling::Mean, &shape, &data, &mask, 2).unwrap(), vec![2.0, 3.0, 7.0, 8.0]);
        assert_eq!(pool(Pooling::Cls, &shape, &data, &mask, 2).unwrap(), vec![1.0, 2.0, 5.0, 6.0]);
        assert!(pool(Pooling::Done, &shape, &data, &mask, 2).is_err());
        assert_eq!(pool(Pooling::Done, &[2, 2], &data[..4], &[], 2).unwrap(), data[..4].to_vec());
        assert!(pool(Pooling::Done, &[2, 3], &data[..6], &[], 2).unwrap_err().contains("[2, 3]"));
    }

    #[test]
    fn normalised_has_unit_length_and_keeps_zero() {
        let v = normalised(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        assert_eq!(normalised(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
