//! Every supported model family against its reference code: tiny random-weight models of each
//! family (tests/fixtures/families/<family>/: open_clip's families in Immich's layout, read
//! without a clipfind-model.json; Chinese-CLIP in clipfind's), with the reference tokenizer's ids
//! and PyTorch's embeddings (models/tools/make_family_models.py, make_cn_clip.py).

use std::path::{Path, PathBuf};

use clipfind_engine::{clip::{
    spec::{ModelSpec, Padding, ResizeMode, SpecialTokens},
    text_clean::Clean,
    Clip, ClipOptions,
}};
use serde::Deserialize;

use super::references::{cosine, ImageRef, TextRef};

#[derive(Deserialize)]
struct Reference {
    context_length: usize,
    pad_id: i64,
    texts: Vec<TextRef>,
    images: Vec<ImageRef>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference(family: &str) -> Reference {
    let path = fixtures().join(format!("families/{family}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn load(family: &str) -> Clip {
    // Parity is with open_clip's full-size decode.
    let options = ClipOptions { device: "cpu".parse().unwrap(), threads: 2, exact_decode: true, ..Default::default() };
    Clip::load(&fixtures().join("families").join(family), options).unwrap_or_else(|e| panic!("{family} loads: {e}"))
}

/// Token ids identical, text cosine >= 0.99999, image cosine >= 0.9999, for every fixture.
fn assert_parity(family: &str) {
    let clip = load(family);
    let reference = reference(family);
    assert_eq!(clip.spec().context_length, reference.context_length);
    assert_eq!(clip.spec().text.pad_id, reference.pad_id);
    assert!(reference.texts.len() >= 30);
    for t in &reference.texts {
        assert_eq!(clip.tokenizer().encode_padded(&t.text).unwrap(), t.ids, "{family}: ids of {:?}", t.text);
        let got = clip.embed_text(&t.text).unwrap();
        let cos = cosine(&got, &t.embedding);
        assert!(cos >= 0.99999, "{family}: text {:?} cosine {cos}", t.text);
    }
    // A batch of texts through a model that takes one at a time gives the same vectors.
    let texts: Vec<&str> = reference.texts.iter().take(4).map(|t| t.text.as_str()).collect();
    for (got, want) in clip.embed_texts(&texts).unwrap().iter().zip(&reference.texts) {
        assert!(cosine(got, &want.embedding) >= 0.99999, "{family}: batched {:?}", want.text);
    }
    for image in &reference.images {
        let got = clip.embed_image_file(&fixtures().join("images").join(&image.file)).unwrap();
        let cos = cosine(&got, &image.embedding);
        assert!(cos >= 0.9999, "{family}: image {} cosine {cos}", image.file);
    }
}

#[test]
fn laion_clip_in_immich_layout_matches_open_clip() {
    let spec = ModelSpec::read(&fixtures().join("families/laion")).unwrap();
    assert_eq!((spec.text.clean, spec.text.special_tokens, spec.text.padding), (Clean::Lower, SpecialTokens::Tokenizer, Padding::Fixed));
    assert_eq!(spec.vision.resize, ResizeMode::Shortest);
    assert_parity("laion");
}

#[test]
fn siglip2_canonicalises_text_and_squashes_images_as_open_clip_does() {
    let spec = ModelSpec::read(&fixtures().join("families/siglip2")).unwrap();
    assert_eq!(spec.family, "siglip");
    assert_eq!((spec.text.clean, spec.vision.resize, spec.image_size), (Clean::Canonicalize, ResizeMode::Squash, 256));
    assert_eq!(spec.image_mean, [0.5; 3]);
    assert_parity("siglip2");
}

#[test]
fn xlm_roberta_reads_non_latin_text_as_open_clip_does() {
    let spec = ModelSpec::read(&fixtures().join("families/xlmr")).unwrap();
    assert_eq!((spec.family.as_str(), spec.text.clean, spec.text.pad_id), ("xlm-roberta", Clean::Whitespace, 1));
    let reference = reference("xlmr");
    let non_latin = ["一只狗坐在长椅上", "Собака сидит на скамейке", "قطة على الأريكة", "바닷가의 일몰"];
    assert!(non_latin.iter().all(|t| reference.texts.iter().any(|r| r.text == *t)), "the fixtures cover non-Latin scripts");
    assert_parity("xlmr");
}

#[test]
fn chinese_clip_tokenizes_and_squashes_as_cn_clip_does() {
    let spec = ModelSpec::read(&fixtures().join("families/cnclip")).unwrap();
    assert_eq!((spec.family.as_str(), spec.text.clean, spec.text.padding, spec.context_length), ("chinese-clip", Clean::None, Padding::Fixed, 52));
    assert_eq!(spec.vision.resize, ResizeMode::Squash);
    let reference = reference("cnclip");
    for hard in ["蓝色的圆", "一只dog在bench上", "你好，世界！", "臺灣的風景", "🐶狗狗🎉", "ＡＢＣ１２３", "café naïve résumé"] {
        assert!(reference.texts.iter().any(|r| r.text == hard), "the fixtures cover {hard:?}");
    }
    assert_parity("cnclip");
}
