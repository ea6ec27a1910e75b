//! Indexing speed per photo format: the same 12 MP camera-like photos as JPEG (q90), HEIC
//! (`heif-enc -q 90`), AVIF (`avifenc`, speed 8), JPEG XL (`cjxl -q 90`), JPEG 2000 (OpenJPEG
//! through Pillow, 40 dB) and DNG (a Bayer mosaic
//! written by scripts/make-dng.py, with and without its full-size JPEG preview), each folder indexed
//! whole by `clipfind index` with the demo model (so decoding, not the encoder, is the bound)
//! and 2 threads. Prints the median images/s of three fresh runs per format.

use std::{path::Path, process::Command, time::Instant};

mod common;

use common::photo_like;

use clipfind_engine::{
    clip::{Clip, ClipOptions},
    ingest::indexer::{self, IndexOptions},
};

const PHOTOS: usize = 12;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Encodes `jpeg` (a file) as `ext` into `out`; false when the encoder is missing.
fn encode(jpeg: &Path, ext: &str, out: &Path) -> bool {
    let (src, dst) = (jpeg.to_str().unwrap(), out.to_str().unwrap());
    let (tool, args): (&str, Vec<&str>) = match ext {
        "heic" => ("heif-enc", vec!["-q", "90", "-o", dst, src]),
        "avif" => ("avifenc", vec!["-s", "8", "--min", "10", "--max", "30", src, dst]),
        "jxl" => ("cjxl", vec!["--lossless_jpeg=0", "-q", "90", src, dst]),
        "dng" | "mosaic.dng" | "jp2" => {
            let cache = std::env::var_os("XDG_CACHE_HOME").map(std::path::PathBuf::from).unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cache"));
            let python = cache.join("clipfind/dng-tools/bin/python");
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/make-dng.py");
            let args = match ext {
                "jp2" => vec!["-c", "import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2], quality_mode='dB', quality_layers=[40])", src, dst],
                "dng" => vec![script, src, dst, "--preview"],
                _ => vec![script, src, dst],
            };
            return Command::new(python).args(args).output().is_ok_and(|o| o.status.success());
        }
        _ => unreachable!(),
    };
    Command::new(tool).args(args).output().is_ok_and(|o| o.status.success())
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let clip = Clip::load(&root.join("models/clipfind-demo"), ClipOptions { device: "cpu".parse().unwrap(), threads: 2, ..Default::default() }).unwrap();
    let jpegs = tempfile::tempdir().unwrap();
    for (i, source) in common::sample_photos().iter().cycle().take(PHOTOS).enumerate() {
        std::fs::write(jpegs.path().join(format!("photo-{i:02}.jpg")), photo_like(source, 12, 200 + i as u32)).unwrap();
    }
    let mut folders = vec![("JPEG q90", jpegs.path().to_path_buf(), None::<tempfile::TempDir>)];
    for (label, ext) in [("HEIC", "heic"), ("AVIF", "avif"), ("JPEG XL", "jxl"), ("JPEG 2000", "jp2"), ("DNG+JPEG", "dng"), ("DNG raw", "mosaic.dng")] {
        let dir = tempfile::tempdir().unwrap();
        let made = (0..PHOTOS).all(|i| encode(&jpegs.path().join(format!("photo-{i:02}.jpg")), ext, &dir.path().join(format!("photo-{i:02}.{ext}"))));
        match made {
            true => folders.push((label, dir.path().to_path_buf(), Some(dir))),
            false => println!("{label}: skipped (its encoder is missing: run scripts/setup.sh)"),
        }
    }
    for (label, data, _keep) in &folders {
        let rates: Vec<f64> = (0..3)
            .map(|_| {
                let index_dir = tempfile::tempdir().unwrap();
                let options = IndexOptions { batch: 8, ..IndexOptions::new(data.clone(), index_dir.path().to_path_buf()) };
                let t = Instant::now();
                let summary = indexer::run(&clip, &options).unwrap();
                assert_eq!(summary.embedded, PHOTOS, "{label}: {:?}", summary.skipped);
                PHOTOS as f64 / t.elapsed().as_secs_f64()
            })
            .collect();
        println!("clipfind index, {PHOTOS} x 12 MP {label:<8}, demo model: median {:.2} images/s", median(rates));
    }
}
