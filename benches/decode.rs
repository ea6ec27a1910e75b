//! Scaled against exact JPEG decoding on photo-like JPEGs of 2 to 50 MP: the samples/ photos
//! upscaled, with film grain so the DCT has fine detail to lose, saved at quality 90. For each
//! size: decode + preprocess time both ways (median of 3), and the cosine of each image's
//! embedding scaled vs exact, with the demo model and test-tiny. Then whole `clipfind index`
//! runs (scan, hash, decode, embed, thumbnails, store) over 14 such 12 MP photos both ways, and
//! the demo model's held-out recall on its evaluation set enlarged to 1200x1200 JPEGs (large
//! enough to be decoded at half scale) both ways.
//!
//!   cargo bench --no-default-features --features ssr --bench decode

use std::{path::Path, time::Instant};

mod common;

use common::photo_like;

use clipfind_engine::{clip::{Clip, ClipOptions}, ingest::indexer::{self, IndexOptions}};

const MEGAPIXELS: [u32; 4] = [2, 12, 24, 50];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let load = |model: &str, exact_decode: bool| {
        Clip::load(&root.join("models").join(model), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, exact_decode, ..Default::default() }).unwrap()
    };
    // The full-size architecture too when it was made (see benches/common).
    let names = ["clipfind-demo", "test-tiny", "vit-b32-random"].into_iter().filter(|m| root.join("models").join(m).join("clipfind-model.json").is_file());
    let models: Vec<(&str, Clip, Clip)> = names.map(|m| (m, load(m, true), load(m, false))).collect();
    let sources = common::sample_photos();
    println!("{} sample photos, each at {MEGAPIXELS:?} MP, grain, JPEG q90", sources.len());
    for mp in MEGAPIXELS {
        let (mut exact_ms, mut scaled_ms) = (Vec::new(), Vec::new());
        let mut cosines: Vec<Vec<f32>> = vec![Vec::new(); models.len()];
        for (i, source) in sources.iter().enumerate() {
            let bytes = photo_like(source, mp, i as u32);
            let (_, exact, scaled) = &models[0];
            let time = |clip: &Clip| {
                median((0..3).map(|_| {
                    let t = Instant::now();
                    clip.preprocess().prepare_bytes(&bytes).unwrap();
                    t.elapsed().as_secs_f64() * 1e3
                }).collect())
            };
            exact_ms.push(time(exact));
            scaled_ms.push(time(scaled));
            for (m, (_, exact, scaled)) in models.iter().enumerate() {
                let embed = |clip: &Clip| {
                    let prepared = clip.preprocess().prepare_bytes(&bytes).unwrap();
                    clip.embed_prepared(std::slice::from_ref(&prepared)).unwrap().remove(0)
                };
                cosines[m].push(cosine(&embed(exact), &embed(scaled)));
            }
        }
        let (e, s) = (median(exact_ms), median(scaled_ms));
        print!("{mp:>2} MP: decode + preprocess p50 exact {e:7.1} ms, scaled {s:6.1} ms (x{:.1})", e / s);
        for (m, (name, _, _)) in models.iter().enumerate() {
            let c = &cosines[m];
            let mean = c.iter().sum::<f32>() / c.len() as f32;
            let worst = c.iter().copied().fold(f32::INFINITY, f32::min);
            print!("; {name} cosine mean {mean:.5} worst {worst:.5}");
        }
        println!();
    }

    // Whole indexing runs on 12 MP photos, demo model, exact vs scaled decoding.
    let data = tempfile::tempdir().unwrap();
    for (i, source) in sources.iter().cycle().take(14).enumerate() {
        std::fs::write(data.path().join(format!("photo-{i:02}.jpg")), photo_like(source, 12, 100 + i as u32)).unwrap();
    }
    for (label, m) in [("exact", 1), ("scaled", 2)] {
        let clip = match m {
            1 => &models[0].1,
            _ => &models[0].2,
        };
        let mut rates = Vec::new();
        for _ in 0..3 {
            let index_dir = tempfile::tempdir().unwrap();
            let options = IndexOptions { batch: 8, ..IndexOptions::new(data.path().to_path_buf(), index_dir.path().to_path_buf()) };
            let t = Instant::now();
            let summary = indexer::run(clip, &options).unwrap();
            assert_eq!(summary.embedded, 14);
            rates.push(14.0 / t.elapsed().as_secs_f64());
        }
        println!("clipfind index, 14 x 12 MP JPEG, demo model, {label} decoding: median {:.2} images/s", median(rates));
    }

    held_out_recall_enlarged(root);
}

/// The demo model's held-out evaluation with every image enlarged to a 1200x1200 JPEG, decoded
/// exactly and scaled.
fn held_out_recall_enlarged(root: &Path) {
    use clipfind_engine::{search::evaluate::{evaluate, EvalSet}};
    let set = EvalSet::load(&root.join("samples/shapes")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let renamed = |file: &str| format!("{}.jpg", Path::new(file).file_stem().unwrap().to_string_lossy());
    for image in &set.manifest.images {
        let source = image::open(set.root.join(&image.file)).unwrap().to_rgb8();
        let big = image::imageops::resize(&source, 1200, 1200, image::imageops::FilterType::Triangle);
        big.save_with_format(dir.path().join(renamed(&image.file)), image::ImageFormat::Jpeg).unwrap();
    }
    let mut manifest = set.manifest.clone();
    manifest.images.iter_mut().for_each(|i| i.file = renamed(&i.file));
    manifest.text_queries.iter_mut().for_each(|q| q.relevant.iter_mut().for_each(|f| *f = renamed(f)));
    manifest.image_groups.iter_mut().for_each(|g| g.iter_mut().for_each(|f| *f = renamed(f)));
    let enlarged = EvalSet { root: dir.path().to_path_buf(), manifest, languages: Default::default() };
    for (label, exact_decode) in [("exact", true), ("scaled", false)] {
        let clip = Clip::load(&root.join("models/clipfind-demo"), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, exact_decode, ..Default::default() }).unwrap();
        let index = tempfile::tempdir().unwrap();
        let searcher = enlarged.index(clip, index.path()).unwrap();
        let r = evaluate(&searcher, &enlarged).unwrap();
        let (t, i) = (r.text_to_image, r.image_to_image);
        println!(
            "demo held-out set enlarged to 1200x1200 JPEG, {label} decoding: text to image recall@1/5/10 {:.3}/{:.3}/{:.3}, image to image {:.3}/{:.3}/{:.3}",
            t.recall_at_1, t.recall_at_5, t.recall_at_10, i.recall_at_1, i.recall_at_5, i.recall_at_10
        );
    }
}
