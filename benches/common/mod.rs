//! Shared by the bench binaries (each uses part of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clipfind_engine::{
    catalog::vector_file::{self, VectorAppender, FILE_KEY},
    catalog::{Catalog, NewImage},
    clip::{Clip, ClipOptions},
    media::photo_meta::{PhotoMeta, Taken, TakenSource},
};

/// When the first synthetic photo was taken (wall-clock seconds); photo i is i minutes later.
pub const SYNTHETIC_START: i64 = 1_600_000_000;

/// A catalog of `n` random unit vectors under `model`'s identity, as if `n` photos were indexed.
pub fn synthetic_index(dir: &Path, clip: &Clip, n: usize) {
    // Uniform directions (no centre): the same sequence as before the generator was shared.
    let mut vectors = Vectors::new(0x9E37_79B9);
    synthetic_index_of(dir, clip, n, || vectors.unit(1.0, None));
}

/// A catalog of `n` photos whose vectors `next` gives, one a minute from [`SYNTHETIC_START`].
pub fn synthetic_index_of(dir: &Path, clip: &Clip, n: usize, next: impl FnMut() -> Vec<f32>) {
    synthetic_index_with(dir, clip, n, next, |i| format!("{i:032x}"));
}

/// As [`synthetic_index_of`], photo i's content hash being `hash_of(i)`.
pub fn synthetic_index_with(dir: &Path, clip: &Clip, n: usize, mut next: impl FnMut() -> Vec<f32>, hash_of: impl Fn(usize) -> String) {
    let mut catalog = Catalog::open(dir).unwrap();
    catalog.set_meta("model_identity", &clip.identity().unwrap()).unwrap();
    catalog.set_meta("model_name", &clip.spec().name).unwrap();
    catalog.set_meta(FILE_KEY, &vector_file::file_name(1)).unwrap();
    let mut vectors = VectorAppender::open(&dir.join(vector_file::file_name(1)), 0, 512).unwrap();
    catalog
        .write_vectors(&mut vectors, |w, vectors| {
            for i in 0..n {
                let v = next();
                let path = format!("synthetic/{i:06}.jpg");
                let hash = hash_of(i);
                // One photo a minute from SYNTHETIC_START: date filters select known fractions.
                let meta = PhotoMeta { taken: Some(Taken { local: SYNTHETIC_START + i as i64 * 60, offset_minutes: None, source: TakenSource::ExifOriginal }), ..PhotoMeta::default() };
                w.upsert(&NewImage { path: &path, size: 1, mtime_ns: 1, hash: &hash, width: 640, height: 480, meta: &meta, video: None, motion_ms: None }, &v, vectors, 0)?;
            }
            w.bump_generation()
        })
        .unwrap();
}


/// Clustered unit vectors, like real embeddings: 1,000 random centres, each vector a centre plus
/// a little noise (neighbours are meaningful, as they are for photos).
pub struct Vectors {
    pub state: u64,
    centres: Vec<f32>,
}

impl Vectors {
    pub fn new(seed: u64) -> Vectors {
        let mut v = Vectors { state: 0x0C1F_F1ED, centres: Vec::new() };
        v.centres = (0..1000).flat_map(|_| v.unit(1.0, None)).collect();
        v.state = seed | 1;
        v
    }

    fn uniform(&mut self) -> f32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % 2001) as f32 / 1000.0 - 1.0
    }

    pub fn unit(&mut self, noise: f32, centre: Option<usize>) -> Vec<f32> {
        let base: Vec<f32> = centre.map_or_else(|| vec![0.0; 512], |c| self.centres[c * 512..][..512].to_vec());
        let mut v: Vec<f32> = base.iter().map(|b| b + noise * self.uniform()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    pub fn next(&mut self) -> Vec<f32> {
        let centre = (self.state % 1000) as usize;
        self.unit(0.054, Some(centre))
    }
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
    clipfind_engine::runtime::openmp::ensure_passive_wait();
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
    load_with(model, false)
}

/// The model on 2 CPU threads, its images encoded by the int8 encoder with `image_int8`.
pub fn load_with(model: &Path, image_int8: bool) -> Clip {
    Clip::load(model, ClipOptions { device: "cpu".parse().unwrap(), threads: 2, image_int8, ..Default::default() }).unwrap()
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
