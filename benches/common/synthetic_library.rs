//! Writes a library of N synthetic photos for the browser test of typing latency at 100k: one
//! small JPEG hard-linked N times under `DIR/synthetic/`, and beside them an index of N clustered
//! unit vectors (photo-like neighbourhoods) under MODEL's identity, as if every photo had been
//! indexed. Embedding 100k real images would take the test run minutes; the search's work (the
//! text encoder, FAISS over N vectors, the catalog) is the same.
//!
//!   cargo run --release --no-default-features --features ssr --example synthetic_library -- DIR N MODEL

#[path = "mod.rs"]
mod common;

use std::path::PathBuf;

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
    let first = photos.join(format!("{:06}.jpg", 0));
    let pixels = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 128]));
    pixels.save(&first).unwrap();
    for i in 1..count {
        let link = photos.join(format!("{i:06}.jpg"));
        if !link.exists() {
            std::fs::hard_link(&first, &link).unwrap();
        }
    }
    let index = dir.join(".clipfind");
    std::fs::create_dir_all(&index).unwrap();
    let clip = common::load(&model);
    let mut vectors = common::Vectors::new(0x5EED);
    common::synthetic_index_of(&index, &clip, count, || vectors.next());
    println!("{count} synthetic photos in {}, indexed in {}", photos.display(), index.display());
}
