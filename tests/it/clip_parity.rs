//! The Rust CLIP pipeline against PyTorch + open_clip references (tests/fixtures/reference.json,
//! made by models/tools/make_fixtures.py with the committed models/test-tiny model).

use std::path::{Path, PathBuf};

use clipfind_engine::{clip::{Clip, ClipOptions}};
use serde::Deserialize;

use super::references::{cosine, ImageRef, TextRef};

#[derive(Deserialize)]
struct Reference {
    texts: Vec<TextRef>,
    images: Vec<ImageRef>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

fn reference() -> Reference {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference.json")).unwrap()).unwrap()
}

fn clip() -> Clip {
    // Parity is with open_clip's full-size decode.
    let options = ClipOptions { device: "cpu".parse().unwrap(), threads: 2, exact_decode: true, ..Default::default() };
    Clip::load(&root().join("models/test-tiny"), options).expect("models/test-tiny loads")
}

#[test]
fn token_ids_equal_open_clip_on_every_fixture_text() {
    let clip = clip();
    for t in reference().texts {
        assert_eq!(clip.tokenizer().encode(&t.text).unwrap(), t.ids, "text {:?}", t.text);
    }
}

#[test]
fn over_long_text_is_cut_to_77_ending_in_the_end_token() {
    let clip = clip();
    let long = reference().texts.into_iter().max_by_key(|t| t.text.len()).unwrap();
    let ids = clip.tokenizer().encode(&long.text).unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!((ids[0], ids[76]), (49406, 49407));
}

#[test]
fn text_embeddings_match_pytorch() {
    let clip = clip();
    for t in reference().texts {
        let got = clip.embed_text(&t.text).unwrap();
        let c = cosine(&got, &t.embedding);
        assert!(c >= 0.99999, "text {:?}: cosine {c}", t.text);
    }
}

#[test]
fn image_embeddings_match_pytorch() {
    let clip = clip();
    let mut worst = (1.0f32, String::new());
    for i in reference().images {
        let prepared = clip.preprocess().load(&fixture(&format!("images/{}", i.file))).unwrap();
        assert_eq!((prepared.width, prepared.height), (i.width, i.height), "{}", i.file);
        let got = clip.embed_prepared(std::slice::from_ref(&prepared)).unwrap().remove(0);
        let c = cosine(&got, &i.embedding);
        if c < worst.0 {
            worst = (c, i.file.clone());
        }
        assert!(c >= 0.9999, "image {}: cosine {c}", i.file);
    }
    eprintln!("worst image cosine: {} ({})", worst.0, worst.1);
}

#[test]
fn batched_text_equals_one_by_one() {
    let clip = clip();
    let r = reference();
    let texts: Vec<&str> = r.texts.iter().map(|t| t.text.as_str()).collect();
    let batched = clip.embed_texts(&texts).unwrap();
    for (text, b) in texts.iter().zip(&batched) {
        let single = clip.embed_text(text).unwrap();
        assert!(cosine(b, &single) >= 0.99999, "{text:?}");
    }
}

/// Many concurrent distinct queries through the text batcher: each gets its own embedding (as
/// a single-query run gives it), and every query is counted in exactly one batch.
#[test]
fn concurrent_text_queries_are_batched_and_each_gets_its_own_answer() {
    use clipfind_engine::search::text_batcher::TextBatcher;
    let clip = std::sync::Arc::new(clip());
    let batcher = TextBatcher::new(clip.clone());
    let texts: Vec<String> = (0..48).map(|i| format!("photo {i} of a {} by the sea", ["dog", "cat", "red bicycle"][i % 3])).collect();
    let answers: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = texts.iter().map(|t| s.spawn(|| batcher.embed(t).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (text, answer) in texts.iter().zip(&answers) {
        assert!(cosine(answer, &clip.embed_text(text).unwrap()) >= 0.99999, "{text:?}");
    }
    let sizes = batcher.batch_sizes().counts;
    let queries: u64 = sizes.iter().enumerate().map(|(i, n)| (i as u64 + 1) * n).sum();
    assert_eq!(queries, 48, "{sizes:?}");
    eprintln!("48 concurrent queries in batches of (size: count) {:?}", sizes.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| (i + 1, *n)).collect::<Vec<_>>());
}

#[test]
fn trimmed_tokens_equal_padding_to_77() {
    let clip = clip();
    let rows = vec![clip.tokenizer().encode("a dog sitting on a bench").unwrap()];
    let trimmed = clip.embed_token_rows(&rows, None).unwrap();
    let padded = clip.embed_token_rows(&rows, Some(77)).unwrap();
    assert!(cosine(&trimmed[0], &padded[0]) >= 0.99999);
}

#[test]
fn batched_images_equal_one_by_one() {
    let clip = clip();
    let files = ["photo.jpg", "portrait.jpg", "wide.png", "gray.png"];
    let prepared: Vec<_> = files.iter().map(|f| clip.preprocess().load(&fixture(&format!("images/{f}"))).unwrap()).collect();
    let batched = clip.embed_prepared(&prepared).unwrap();
    for (p, b) in prepared.iter().zip(&batched) {
        let single = clip.embed_prepared(std::slice::from_ref(p)).unwrap().remove(0);
        assert!(cosine(b, &single) >= 0.99999);
    }
}

#[test]
fn broken_images_give_clear_errors_not_panics() {
    let clip = clip();
    let cases = [
        ("zero-bytes.jpg", "empty"),
        ("truncated.jpg", ""),
        ("garbage.png", "not an image"),
        ("not-an-image.jpg", "not an image"),
        ("one-pixel.png", "too small"),
        ("header-bomb.png", "megapixel limit"),
        ("does-not-exist.jpg", "No such file"),
    ];
    for (file, expected) in cases {
        let path = fixture(&format!("broken/{file}"));
        let err = clip.embed_image_file(&path).expect_err(file).to_string();
        assert!(err.contains(file), "{file}: error does not name the file: {err}");
        assert!(err.contains(expected), "{file}: {err}");
    }
}

/// Big JPEGs are decoded at a DCT scale by default; their embeddings stay those of the
/// full-size decode: mean cosine >= 0.999 and worst >= 0.995 with the demo model, on the
/// committed 12 MP fixture and sample photos enlarged to 4-9 MP with grain.
#[test]
fn scaled_decoding_keeps_embeddings_of_the_full_size_decode() {
    use clipfind_engine::clip::preprocess::decode_scaled_jpeg;
    let load = |exact_decode| {
        let options = ClipOptions { device: "cpu".parse().unwrap(), threads: 2, exact_decode, ..Default::default() };
        Clip::load(&root().join("models/clipfind-demo"), options).unwrap()
    };
    let (exact, scaled) = (load(true), load(false));
    assert!(scaled.preprocess().scaled_decode() && !exact.preprocess().scaled_decode());
    let mut jpegs = vec![std::fs::read(fixture("images/huge.jpg")).unwrap()];
    for (name, side) in [("china.jpg", 2400), ("flower.jpg", 3000), ("rocket.jpg", 3600)] {
        let photo = image::open(root().join("samples/photos").join(name)).unwrap().to_rgb8();
        let mut big = image::imageops::resize(&photo, side * 3 / 2, side, image::imageops::FilterType::Triangle);
        for (i, p) in big.pixels_mut().enumerate() {
            let grain = ((i as u32).wrapping_mul(2_654_435_761) >> 28) as i16 - 8;
            p.0.iter_mut().for_each(|c| *c = (*c as i16 + grain).clamp(0, 255) as u8);
        }
        let mut bytes = Vec::new();
        big.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
        jpegs.push(bytes);
    }
    let size = scaled.spec().image_size;
    let cosines: Vec<f32> = jpegs
        .iter()
        .map(|bytes| {
            assert!(decode_scaled_jpeg(bytes, 2 * size).unwrap().is_some(), "big enough to scale");
            let embed = |clip: &Clip| {
                let prepared = clip.preprocess().prepare_bytes(bytes).unwrap();
                clip.embed_prepared(std::slice::from_ref(&prepared)).unwrap().remove(0)
            };
            cosine(&embed(&exact), &embed(&scaled))
        })
        .collect();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let worst = cosines.iter().copied().fold(1.0, f32::min);
    assert!(mean >= 0.999 && worst >= 0.995, "cosines {cosines:?}");
}

/// A query overtaken by a newer one of the same client before it is encoded is answered
/// "superseded", not encoded; the newest is encoded.
#[test]
fn a_superseded_query_is_not_encoded() {
    use clipfind_engine::{search::text_batcher::{TextBatcher, Ticket}};
    use std::sync::{atomic::AtomicU64, Arc};
    let batcher = TextBatcher::new(Arc::new(clip()));
    let client = Arc::new(AtomicU64::new(0));
    let (older, newest) = (Ticket::next(&client), Ticket::next(&client));
    let err = batcher.embed_unless_superseded("a do", Some(older)).unwrap_err();
    assert!(matches!(err, clipfind_engine::EngineError::Superseded), "{err}");
    assert_eq!(batcher.batch_sizes().counts.iter().sum::<u64>(), 1, "counted, dropped before the encoder");
    assert!(batcher.embed_unless_superseded("a dog", Some(newest)).is_ok());
}

/// `text_int8` loads the model's int8 text encoder (the demo model ships one): embeddings stay
/// within cosine 0.995 of fp32, and a model without one falls back to fp32.
#[test]
fn the_int8_text_encoder_stays_close_to_fp32() {
    let load = |model: &str, text_int8| {
        let options = ClipOptions { device: "cpu".parse().unwrap(), threads: 2, text_int8, ..Default::default() };
        Clip::load(&root().join("models").join(model), options).unwrap()
    };
    let (fp32, int8) = (load("clipfind-demo", false), load("clipfind-demo", true));
    let mut differs = false;
    for q in ["a red circle", "three yellow stars on a blue background", "a small green triangle at the top"] {
        let (a, b) = (fp32.embed_text(q).unwrap(), int8.embed_text(q).unwrap());
        assert!(cosine(&a, &b) >= 0.995, "{q}: {}", cosine(&a, &b));
        differs |= a != b;
    }
    assert!(differs && int8.text_int8(), "the int8 encoder was not the one loaded");
    // test-tiny without its int8 file: --text-int8 falls back to fp32.
    let plain = tempfile::tempdir().unwrap();
    for file in ["text.onnx", "vision.onnx", "tokenizer.json"] {
        std::fs::copy(root().join("models/test-tiny").join(file), plain.path().join(file)).unwrap();
    }
    let mut spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("models/test-tiny/clipfind-model.json")).unwrap()).unwrap();
    spec["text"].as_object_mut().unwrap().remove("int8_file");
    spec["sha256"].as_object_mut().unwrap().remove("text-int8.onnx");
    std::fs::write(plain.path().join("clipfind-model.json"), spec.to_string()).unwrap();
    let options = ClipOptions { device: "cpu".parse().unwrap(), threads: 2, text_int8: true, ..Default::default() };
    let tiny = Clip::load(plain.path(), options).unwrap();
    assert_eq!(tiny.embed_text("a dog").unwrap(), clip().embed_text("a dog").unwrap(), "no int8 file: fp32");
    let tiny_int8 = load("test-tiny", true);
    assert!(tiny_int8.text_int8(), "test-tiny's int8 text encoder holds on this CPU");
    assert!(cosine(&tiny_int8.embed_text("a dog").unwrap(), &clip().embed_text("a dog").unwrap()) >= 0.99, "test-tiny's own int8 file");
}

/// An int8 encoder that does not encode like fp32 on this machine (as 8-bit weights do on x86
/// without VNNI) is checked at load and replaced by fp32, each encoder on its own. Here the
/// "int8" files are another model's encoders (same shapes, unrelated weights), one recorded as
/// holding the fidelity bar: both fall back, and the embeddings are fp32's.
#[test]
fn an_int8_encoder_that_does_not_hold_on_this_cpu_falls_back_to_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = root().join("models/test-tiny");
    for file in ["text.onnx", "vision.onnx", "tokenizer.json"] {
        std::fs::copy(tiny.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::copy(root().join("models/clipfind-demo/text.onnx"), dir.path().join("text-int8.onnx")).unwrap();
    std::fs::copy(root().join("models/clipfind-demo/vision.onnx"), dir.path().join("vision-int8.onnx")).unwrap();
    let demo: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("models/clipfind-demo/clipfind-model.json")).unwrap()).unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tiny.join("clipfind-model.json")).unwrap()).unwrap();
    spec["vision"]["int8_file"] = "vision-int8.onnx".into();
    spec["vision"]["int8_fidelity"] = demo["vision"]["int8_fidelity"].clone();
    for file in ["text-int8.onnx", "vision-int8.onnx"] {
        spec["sha256"].as_object_mut().unwrap().remove(file);
    }
    std::fs::write(dir.path().join("clipfind-model.json"), spec.to_string()).unwrap();

    let options = ClipOptions { device: "cpu".parse().unwrap(), threads: 2, exact_decode: true, text_int8: true, image_int8: true, ..Default::default() };
    let checked = Clip::load(dir.path(), options).unwrap();
    assert!(!checked.text_int8() && !checked.image_int8(), "both fell back to fp32");
    let fp32 = clip();
    assert_eq!(checked.embed_text("a dog").unwrap(), fp32.embed_text("a dog").unwrap());
    let photo = fixture("images/photo.jpg");
    assert_eq!(checked.embed_image_file(&photo).unwrap(), fp32.embed_image_file(&photo).unwrap());
    assert_eq!(checked.identity().unwrap(), fp32.identity().unwrap(), "the index records the fp32 image encoder");
}
