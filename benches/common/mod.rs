//! Shared by the bench binaries (each uses part of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clipfind_engine::{
    catalog::{Catalog, NewImage},
    photo_meta::{PhotoMeta, Taken, TakenSource},
    clip::{Clip, ClipOptions},
    store::vector_file::{self, VectorAppender, FILE_KEY},
};

/// When the first synthetic photo was taken (wall-clock seconds); photo i is i minutes later.
pub const SYNTHETIC_START: i64 = 1_600_000_000;

/// A catalog of `n` random unit vectors under `model`'s identity, as if `n` photos were indexed.
pub fn synthetic_index(dir: &Path, clip: &Clip, n: usize) {
    let mut catalog = Catalog::open(dir).unwrap();
    catalog.set_meta("model_identity", &clip.spec().identity(clip.dir()).unwrap()).unwrap();
    catalog.set_meta("model_name", &clip.spec().name).unwrap();
    catalog.set_meta(FILE_KEY, &vector_file::file_name(1)).unwrap();
    let mut vectors = VectorAppender::open(&dir.join(vector_file::file_name(1)), 0, 512).unwrap();
    let mut s = 0x9E37_79B9_u64;
    catalog
        .write_vectors(&mut vectors, |w, vectors| {
            for i in 0..n {
                let mut v: Vec<f32> = (0..512)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        (s % 2001) as f32 / 1000.0 - 1.0
                    })
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                let path = format!("synthetic/{i:06}.jpg");
                let hash = format!("{i:032x}");
                // One photo a minute from SYNTHETIC_START: date filters select known fractions.
                let meta = PhotoMeta { taken: Some(Taken { local: SYNTHETIC_START + i as i64 * 60, offset_minutes: None, source: TakenSource::ExifOriginal }), ..PhotoMeta::default() };
                w.upsert(&NewImage { path: &path, size: 1, mtime_ns: 1, hash: &hash, width: 640, height: 480, meta: &meta, video: None }, &v, vectors, 0)?;
            }
            w.bump_generation()
        })
        .unwrap();
}


/// The samples/ photos, decoded (sources for [`photo_like`]).
pub fn sample_photos() -> Vec<image::RgbImage> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(root.join("samples/photos")).unwrap().flatten().map(|e| e.path()).collect();
    paths.sort();
    paths.iter().map(|p| image::open(p).unwrap().to_rgb8()).collect()
}

/// The full-size ViT-B/32-architecture model the benches run (CLIPFIND_BENCH_MODEL overrides),
/// or None after saying how to make it.
pub fn bench_model() -> Option<PathBuf> {
    clipfind_engine::openmp::ensure_passive_wait();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = std::env::var_os("CLIPFIND_BENCH_MODEL").map_or_else(|| root.join("models/vit-b32-random"), PathBuf::from);
    if clipfind_engine::clip::spec::ModelSpec::is_model_dir(&model) {
        return Some(model);
    }
    eprintln!("bench model missing at {}: python models/tools/export_onnx.py --vit-b32-random models/vit-b32-random", model.display());
    None
}

/// The model on the CPU with 2 threads, as the benchmarks are specified.
pub fn load(model: &Path) -> Clip {
    Clip::load(model, ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).unwrap()
}

/// One sample photo at about `mp` megapixels (4:3 or its source's aspect), grain added, JPEG q90.
pub fn photo_like(source: &image::RgbImage, mp: u32, seed: u32) -> Vec<u8> {
    let aspect = source.width() as f64 / source.height() as f64;
    let h = ((mp as f64 * 1e6 / aspect).sqrt()) as u32;
    let w = (h as f64 * aspect) as u32;
    let mut big = image::imageops::resize(source, w, h, image::imageops::FilterType::Triangle);
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    for p in big.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let grain = (state % 17) as i16 - 8;
        for c in p.0.iter_mut() {
            *c = (*c as i16 + grain).clamp(0, 255) as u8;
        }
    }
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut std::io::Cursor::new(&mut bytes), 90).encode_image(&big).unwrap();
    bytes
}
