//! Shared by the bench binaries (each uses part of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clipfind_engine::{
    catalog::{Catalog, NewImage},
    clip::{Clip, ClipOptions},
    store::vector_file::{self, VectorAppender, FILE_KEY},
};

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
                w.upsert(&NewImage { path: &path, size: 1, mtime_ns: 1, hash: &hash, width: 640, height: 480 }, &v, vectors, 0)?;
            }
            w.bump_generation()
        })
        .unwrap();
}


/// The full-size ViT-B/32-architecture model the benches run (CLIPFIND_BENCH_MODEL overrides),
/// or None after saying how to make it.
pub fn bench_model() -> Option<PathBuf> {
    clipfind_engine::openmp::ensure_passive_wait();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = std::env::var_os("CLIPFIND_BENCH_MODEL").map_or_else(|| root.join("models/vit-b32-random"), PathBuf::from);
    if model.join("clipfind-model.json").is_file() {
        return Some(model);
    }
    eprintln!("bench model missing at {}: python models/tools/export_onnx.py --vit-b32-random models/vit-b32-random", model.display());
    None
}

/// The model on the CPU with 2 threads, as the benchmarks are specified.
pub fn load(model: &Path) -> Clip {
    Clip::load(model, ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).unwrap()
}
