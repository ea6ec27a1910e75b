//! Thumbnails for the web grid, written at index time and named by content hash, so renamed,
//! moved and duplicate files share one and a re-index never redoes them.

use std::{
    collections::HashSet,
    io::Cursor,
    path::{Path, PathBuf},
};

use image::{codecs::jpeg::JpegEncoder, DynamicImage};

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIZE: u32 = 320;
const QUALITY: u8 = 82;

pub fn dir(index_dir: &Path) -> PathBuf {
    index_dir.join("thumbs")
}

/// The thumbnail name of a video's frame at `ms` milliseconds: the video's content hash and the
/// moment, so it lives and goes with the video's own thumbnail.
pub fn frame_key(hash: &str, ms: i64) -> String {
    format!("{hash}-{ms}")
}

/// `thumbs/ab/abcdef….jpg`: two-letter folders keep any one folder small.
pub fn path(index_dir: &Path, hash: &str) -> PathBuf {
    dir(index_dir).join(hash.get(..2).unwrap_or("xx")).join(format!("{hash}.jpg"))
}

/// A JPEG at most THUMB_SIZE on its longest side (never enlarged), alpha dropped.
pub fn encode(image: &DynamicImage) -> Result<Vec<u8>, String> {
    let small = if image.width().max(image.height()) > THUMB_SIZE {
        image.thumbnail(THUMB_SIZE, THUMB_SIZE)
    } else {
        image.clone()
    };
    let rgb = small.to_rgb8();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut out), QUALITY).encode_image(&rgb).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Writes the thumbnail for `hash` unless it exists; atomic, so a crash leaves no half file.
pub fn ensure(index_dir: &Path, hash: &str, image: &DynamicImage) -> Result<(), String> {
    let target = path(index_dir, hash);
    if target.is_file() {
        return Ok(());
    }
    let bytes = encode(image)?;
    let parent = target.parent().expect("thumbnail paths have a folder");
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let tmp = target.with_extension(format!("{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp); // a full disk must not fill up with half thumbnails
    }
    written.map_err(|e| e.to_string())
}

/// Deletes thumbnails whose hash is no longer in `keep`; returns how many.
pub fn prune(index_dir: &Path, keep: &HashSet<String>) -> usize {
    files(index_dir).filter(|p| !keep.contains(hash_of(p))).filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// The content hashes that have a finished thumbnail (a video's own, not only its frames').
pub fn stored(index_dir: &Path) -> HashSet<String> {
    let is_own = |p: &PathBuf| p.extension().is_some_and(|e| e == "jpg") && !p.file_stem().is_some_and(|s| s.to_string_lossy().contains('-'));
    files(index_dir).filter(is_own).map(|p| hash_of(&p).to_string()).collect()
}

/// Removes the temporary files an interrupted write (a crash, a full disk) left behind; returns
/// how many.
pub fn clean_temporary(index_dir: &Path) -> usize {
    files(index_dir).filter(|p| p.extension().is_some_and(|e| e == "tmp")).filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// Decodes `original` (within the process's decode budget; a video's first frame, by `ffmpeg`)
/// and writes its thumbnail as `hash`.
pub fn make_from_file(index_dir: &Path, hash: &str, original: &Path) -> crate::Result<()> {
    if crate::video::is_video_path(original) {
        let image = crate::video::first_frame(original).map_err(|e| crate::EngineError::Image { path: original.to_path_buf(), reason: e.to_string() })?;
        return ensure(index_dir, hash, &DynamicImage::ImageRgb8(image))
            .map_err(|reason| crate::EngineError::Image { path: original.to_path_buf(), reason: format!("cannot write its thumbnail: {reason}") });
    }
    crate::clip::preprocess::with_decoded_file(original, |image| ensure(index_dir, hash, image))?.map_err(|reason| {
        crate::EngineError::Image { path: original.to_path_buf(), reason: format!("cannot write its thumbnail: {reason}") }
    })
}

/// A cheap summary of the thumbnail folder: each shard's name and modification time. Writing,
/// removing or renaming any file in a shard changes its time, so an equal fingerprint says the
/// folder is as the last check left it, without listing a million files.
pub fn fingerprint(index_dir: &Path) -> String {
    let mut shards: Vec<(String, u128)> = std::fs::read_dir(dir(index_dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|shard| {
            let modified = shard.metadata().ok().and_then(|m| m.modified().ok());
            let nanos = modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            (shard.file_name().to_string_lossy().into_owned(), nanos)
        })
        .collect();
    shards.sort();
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(format!("{shards:?}").as_bytes()))
}

/// Every file in the thumbnail folder's two-letter shards.
fn files(index_dir: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir(index_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
        .flat_map(|files| files.flatten().map(|f| f.path()))
}

/// `thumbs/ab/<hash>.jpg` (or `<hash>.jpg.<pid>.tmp`, or a video frame's `<hash>-<ms>.jpg`) -> `<hash>`.
fn hash_of(path: &Path) -> &str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.split(['.', '-']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_fit_the_box_and_are_never_enlarged() {
        let big = DynamicImage::new_rgb8(1000, 500);
        let thumb = image::load_from_memory(&encode(&big).unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
        let small = DynamicImage::new_rgba8(50, 80);
        let thumb = image::load_from_memory(&encode(&small).unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (50, 80));
    }

    #[test]
    fn ensure_writes_once_and_prune_removes_orphans() {
        let d = tempfile::tempdir().unwrap();
        let img = DynamicImage::new_rgb8(10, 10);
        ensure(d.path(), "abc123", &img).unwrap();
        ensure(d.path(), "def456", &img).unwrap();
        assert!(path(d.path(), "abc123").is_file());
        let keep = ["abc123".to_string()].into_iter().collect();
        assert_eq!(prune(d.path(), &keep), 1);
        assert!(path(d.path(), "abc123").is_file() && !path(d.path(), "def456").exists());
    }

    #[test]
    fn the_fingerprint_changes_when_a_thumbnail_goes() {
        let d = tempfile::tempdir().unwrap();
        ensure(d.path(), "abc123", &DynamicImage::new_rgb8(4, 4)).unwrap();
        let before = fingerprint(d.path());
        assert_eq!(fingerprint(d.path()), before);
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::remove_file(path(d.path(), "abc123")).unwrap();
        assert_ne!(fingerprint(d.path()), before);
    }
}
