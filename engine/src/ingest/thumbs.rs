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
    encode_within(image, THUMB_SIZE)
}

/// Longest side of the JPEG shown in place of a photo whose format browsers cannot show.
pub const VIEW_SIZE: u32 = 2048;

/// Extensions of the photo formats common browsers show themselves; others get a JPEG rendition.
const BROWSER_FORMATS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "avif"];

/// Whether a browser shows the photo at `path` (by its name) without a rendition.
pub fn browsers_show(path: &str) -> bool {
    std::path::Path::new(path).extension().and_then(|e| e.to_str()).is_some_and(|e| BROWSER_FORMATS.iter().any(|f| e.eq_ignore_ascii_case(f)))
}

/// A JPEG of the photo at `original`, at most [`VIEW_SIZE`] on its longest side, made within
/// the decode budget (not stored: browsers keep it by its ETag).
pub fn rendition(original: &Path) -> crate::Result<Vec<u8>> {
    crate::clip::preprocess::with_decoded_file(original, |image| encode_within(image, VIEW_SIZE))?
        .map_err(|reason| crate::EngineError::Image { path: original.to_path_buf(), reason: format!("cannot make its JPEG rendition: {reason}") })
}

fn encode_within(image: &DynamicImage, size: u32) -> Result<Vec<u8>, String> {
    let small = if image.width().max(image.height()) > size {
        image.thumbnail(size, size)
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
    let shard = target.parent().expect("thumbnail paths have a folder");
    own_folder(&dir(index_dir)).and_then(|()| own_folder(shard)).map_err(|e| e.to_string())?;
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    let bytes = encode(image)?;
    // A fresh temporary file, renamed into place: a crash or a full disk leaves no half file.
    crate::support::index_folder::replace_file(&target, &bytes).map_err(|e| e.to_string())
}

/// Opens the thumbnail `key` (a hash, or a frame's [`frame_key`]) to serve it: None when it is
/// missing, or when it or its folder is not clipfind's own (a link planted in a synced index
/// folder must not serve what it leads to).
pub fn open(index_dir: &Path, key: &str) -> Option<std::fs::File> {
    let target = path(index_dir, key);
    let shard = target.parent()?;
    let own_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if !own_dir(&dir(index_dir)) || !own_dir(shard) {
        return None;
    }
    crate::support::index_folder::open_own_for_reading(&target).ok()
}

/// Makes `folder` unless it exists; one that is a link (planted after the index folder was
/// checked) is refused, never written through.
fn own_folder(folder: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(folder) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{} is not a folder of clipfind's own", folder.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(folder) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => own_folder(folder),
            made => made,
        },
        Err(e) => Err(e),
    }
}

/// Deletes thumbnails whose hash is no longer in `keep`; returns how many. Only names clipfind
/// writes are ever deleted: anything else found in the folder is left alone.
pub fn prune(index_dir: &Path, keep: &HashSet<String>) -> usize {
    files(index_dir).filter(|p| is_thumbnail_name(p) && !keep.contains(hash_of(p))).filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// The content hashes that have a finished thumbnail (a video's own, not only its frames').
pub fn stored(index_dir: &Path) -> HashSet<String> {
    let is_own = |p: &PathBuf| is_thumbnail_name(p) && !p.file_stem().is_some_and(|s| s.to_string_lossy().contains('-'));
    files(index_dir).filter(is_own).map(|p| hash_of(&p).to_string()).collect()
}

/// Removes the temporary files an interrupted write (a crash, a full disk) left behind; returns
/// how many.
pub fn clean_temporary(index_dir: &Path) -> usize {
    files(index_dir).filter(|p| is_temporary_name(p)).filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// `<hash>.jpg` or a video frame's `<hash>-<ms>.jpg`, the hash 32 hex digits: a name clipfind writes.
fn is_thumbnail_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Some(stem) = name.strip_suffix(".jpg") else { return false };
    let (hash, ms) = stem.split_once('-').map_or((stem, None), |(h, ms)| (h, Some(ms)));
    is_hash(hash) && ms.is_none_or(|ms| !ms.is_empty() && ms.bytes().all(|b| b.is_ascii_digit()))
}

/// A thumbnail's temporary file: `<thumbnail>.<pid>.<n>.tmp`, or `<hash>.<pid>.tmp` as earlier
/// releases named them.
fn is_temporary_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let own = crate::support::index_folder::is_temporary_name(name) && is_thumbnail_name(Path::new(name.splitn(3, '.').take(2).collect::<Vec<_>>().join(".").as_str()));
    let earlier = name.strip_suffix(".tmp").and_then(|r| r.split_once('.')).is_some_and(|(h, pid)| is_hash(h.split('-').next().unwrap_or(h)) && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
    own || earlier
}

fn is_hash(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decodes `original` (within the process's decode budget; a video's first frame, by `ffmpeg`)
/// and writes its thumbnail as `hash`.
pub fn make_from_file(index_dir: &Path, hash: &str, original: &Path) -> crate::Result<()> {
    if crate::media::video::is_video_path(original) {
        let image = crate::media::video::first_frame(original).map_err(|e| crate::EngineError::Image { path: original.to_path_buf(), reason: e.to_string() })?;
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

/// Every plain file in the thumbnail folder's two-letter shards. File types come from the
/// listing, which never follows a link: a planted `thumbs/ab -> ~` is not entered, and a link
/// named like a thumbnail is not a file here.
fn files(index_dir: &Path) -> impl Iterator<Item = PathBuf> {
    let is = |entry: &std::fs::DirEntry, wanted: fn(&std::fs::FileType) -> bool| entry.file_type().is_ok_and(|t| wanted(&t));
    let thumbs = dir(index_dir);
    let own = std::fs::symlink_metadata(&thumbs).is_ok_and(|m| m.is_dir());
    own.then(|| std::fs::read_dir(thumbs).ok()).flatten()
        .into_iter()
        .flatten()
        .flatten()
        .filter(move |shard| is(shard, std::fs::FileType::is_dir))
        .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
        .flat_map(move |files| files.flatten().filter(move |f| is(f, std::fs::FileType::is_file)).map(|f| f.path()))
}

/// `thumbs/ab/<hash>.jpg` (or `<hash>.jpg.<pid>.tmp`, or a video frame's `<hash>-<ms>.jpg`) -> `<hash>`.
fn hash_of(path: &Path) -> &str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.split(['.', '-']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "abc12300000000000000000000000000";
    const B: &str = "def45600000000000000000000000000";

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
        ensure(d.path(), A, &img).unwrap();
        ensure(d.path(), B, &img).unwrap();
        assert!(path(d.path(), A).is_file());
        let keep = [A.to_string()].into_iter().collect();
        assert_eq!(prune(d.path(), &keep), 1);
        assert!(path(d.path(), A).is_file() && !path(d.path(), B).exists());
    }

    #[test]
    fn the_fingerprint_changes_when_a_thumbnail_goes() {
        let d = tempfile::tempdir().unwrap();
        ensure(d.path(), A, &DynamicImage::new_rgb8(4, 4)).unwrap();
        let before = fingerprint(d.path());
        assert_eq!(fingerprint(d.path()), before);
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::remove_file(path(d.path(), A)).unwrap();
        assert_ne!(fingerprint(d.path()), before);
    }

    #[test]
    fn pruning_deletes_only_clipfind_names_and_never_follows_links() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        std::fs::create_dir_all(home.join("Documents")).unwrap();
        std::fs::write(home.join("Documents/report.txt"), b"keep").unwrap();
        std::fs::write(home.join(format!("{B}.jpg")), b"a photo of mine").unwrap();
        let index = d.path().join("index");
        std::fs::create_dir(&index).unwrap();
        ensure(&index, A, &DynamicImage::new_rgb8(4, 4)).unwrap();
        // Planted after the index was checked: a shard that is a link, a link named like a
        // thumbnail, and a file of someone else's in a real shard.
        std::os::unix::fs::symlink(&home, dir(&index).join("de")).unwrap();
        std::os::unix::fs::symlink(home.join(format!("{B}.jpg")), dir(&index).join("ab").join(format!("{B}-5.jpg"))).unwrap();
        std::fs::write(dir(&index).join("ab").join("notes.txt"), b"not ours").unwrap();
        assert_eq!(prune(&index, &HashSet::new()), 1, "only the one real thumbnail goes");
        assert_eq!(clean_temporary(&index), 0);
        assert_eq!(std::fs::read(home.join("Documents/report.txt")).unwrap(), b"keep");
        assert_eq!(std::fs::read(home.join(format!("{B}.jpg"))).unwrap(), b"a photo of mine");
        assert!(dir(&index).join("ab/notes.txt").exists());
        let err = ensure(&index, B, &DynamicImage::new_rgb8(4, 4)).unwrap_err();
        assert!(err.contains("not a folder of clipfind"), "{err}");
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 2, "nothing written through the planted shard");
    }

    #[test]
    fn temporary_files_of_this_and_earlier_releases_are_recognised() {
        for name in [format!("{A}.jpg.123.4.tmp"), format!("{A}-40.jpg.9.0.tmp"), format!("{A}.77.tmp")] {
            assert!(is_temporary_name(Path::new(&name)), "{name}");
        }
        for name in ["report.txt.tmp", "abc.1.tmp", "x.jpg.1.2.tmp"] {
            assert!(!is_temporary_name(Path::new(name)), "{name}");
        }
    }
}
