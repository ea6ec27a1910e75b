//! Writes a library of N synthetic photos for the browser test of typing latency at 100k: eight
//! small JPEGs hard-linked in turn N times under `DIR/synthetic/` (a file may have at most 65,000
//! links on ext4), and beside them an index of N clustered
//! unit vectors (photo-like neighbourhoods) under MODEL's identity, as if every photo had been
//! indexed, with their thumbnails. Embedding 100k real images would take the test run minutes; the search's work (the
//! text encoder, FAISS over N vectors, the catalog) is the same.
//!
//!   cargo run --release --no-default-features --features ssr --example synthetic_library -- DIR N MODEL

#[path = "mod.rs"]
mod common;

use std::path::PathBuf;

use clipfind_engine::ingest::ensure_thumbnail;

/// Distinct JPEGs the photos are links to.
const SOURCES: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, count, model] = &args[..] else {
        eprintln!("usage: synthetic_library DIR N MODEL");
        std::process::exit(2);
    };
    let (dir, model) = (PathBuf::from(dir), PathBuf::from(model));
    let count: usize = count.parse().expect("N is a count");
    let photos = dir.join("synthetic");
    std::fs::create_dir_all(&photos).unwrap();
    let sources: Vec<PathBuf> = (0..SOURCES.min(count))
        .map(|s| {
            let path = photos.join(format!("{s:06}.jpg"));
            let pixels = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, (s * 32) as u8]));
            pixels.save(&path).unwrap();
            path
        })
        .collect();
    for i in sources.len()..count {
        let link = photos.join(format!("{i:06}.jpg"));
        if !link.exists() {
            std::fs::hard_link(&sources[i % sources.len()], &link).unwrap();
        }
    }
    let index = dir.join(".clipfind");
    std::fs::create_dir_all(&index).unwrap();
    let clip = common::load(&model);
    let mut vectors = common::Vectors::new(0x5EED);
    // Photo i is a link to source i % 8: it has that file's content hash and thumbnail, as an
    // indexed library has its thumbnails (made on demand, 30 a query would load the server).
    let hash_of = |i: usize| format!("{:032x}", i % sources.len());
    common::synthetic_index_with(&index, &clip, count, || vectors.next(), hash_of);
    for (s, source) in sources.iter().enumerate() {
        ensure_thumbnail(&index, &hash_of(s), &image::open(source).unwrap()).unwrap();
    }
    println!("{count} synthetic photos in {}, indexed in {}", photos.display(), index.display());
}
