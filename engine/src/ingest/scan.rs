//! Finding the images under a folder: recursive, case-insensitive extensions, hidden entries and
//! the index folder skipped, symlinks followed without looping, exclusion globs.
//!
//! Reading a file's size and mtime costs a system call per file (about 3 s for a million files
//! on a 2-core VM), listing folders does not. So a scan may be given the folders' modification
//! times from the last complete run: a folder whose time is unchanged has had no file added,
//! removed or renamed in it, and its files are reported as `trusted` without a `stat`. A file
//! rewritten in place under the same name does not change its folder's time; the indexer runs a
//! full scan daily and on request for that case.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use globset::{Glob, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

use crate::{ingest::roots::Roots, EngineError, Result};

/// Extensions clipfind reads (lower case; matched case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "hif", "avif", "jxl", "mpo", "jp2", "j2k", "j2c", "jpf", "jpx",
    // Camera RAW (read by their content: formats/raw.rs).
    "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "raf", "orf", "rw2", "pef", "srw", "erf", "kdc", "dcr", "mrw", "3fr", "iiq", "x3f", "mos"];
/// Videos the index samples frames of (through `ffmpeg`, see [`crate::media::video`]).
pub use crate::catalog::filter::VIDEO_EXTENSIONS;

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Glob patterns; a file matches when its relative path or its name matches.
    pub exclude: Vec<String>,
    /// A folder never to descend into (the index itself when it lives inside the data).
    pub skip_dir: Option<PathBuf>,
    /// Folder modification times (relative path → ns) from the last complete scan: files in a
    /// folder whose time is the same are not `stat`ed.
    pub unchanged_since: HashMap<String, i64>,
}

/// An image file found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Relative to the data root, `/`-separated.
    pub rel: String,
    /// Size in bytes (0 when `trusted`).
    pub size: u64,
    /// Modification time in ns since the Unix epoch (0 when `trusted`).
    pub mtime_ns: i64,
    /// In a folder unchanged since the last complete scan: taken to be as it was then, unread.
    pub trusted: bool,
}

#[derive(Debug, Default)]
pub struct Scan {
    /// Sorted by relative path.
    pub files: Vec<FoundFile>,
    /// Entries that could not be read (permission, symlink loop, non-UTF-8 name), with why.
    pub problems: Vec<(String, String)>,
    /// Every folder seen (relative path, "" for the root) with its modification time.
    pub folders: Vec<(String, i64)>,
    /// Where the symbolic links this scan followed lead (canonical): the only places outside
    /// the data folders whose files may be served.
    pub links: Vec<PathBuf>,
}

/// Folders a link is never followed into: the kernel's own (endless or blocking files) and the
/// devices.
const NEVER_ENTERED: &[&str] = &["/proc", "/sys", "/dev", "/run"];

/// Why a followed link to the folder `target` is not entered, if it is not: one leading to a
/// folder that holds the data folder (`x -> /`, `up -> ../..`) would scan the whole disk.
fn refused_link_target(target: &Path, root: &Path) -> Option<String> {
    if root.starts_with(target) {
        return Some(format!("a link to {}, which holds the photo folder: not followed", target.display()));
    }
    NEVER_ENTERED
        .iter()
        .find(|system| target.starts_with(system))
        .map(|system| format!("a link into {system}: not followed"))
}

/// A folder modified this close to the scan may still be changing within the same timestamp
/// (coarse file-system clocks): its time is recorded but not trusted.
const RACY_NS: i64 = 2_000_000_000;

pub fn is_image_name(name: &str) -> bool {
    has_extension(name, IMAGE_EXTENSIONS)
}

pub fn is_video_name(name: &str) -> bool {
    has_extension(name, VIDEO_EXTENSIONS)
}

/// `name` has a stem and one of `extensions`, in any case.
fn has_extension(name: &str, extensions: &[&str]) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| !stem.is_empty() && extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

pub fn scan(root: &Path, options: &ScanOptions) -> Result<Scan> {
    let root_meta = std::fs::metadata(root).map_err(|source| EngineError::Io { path: root.to_path_buf(), source })?;
    if !root_meta.is_dir() {
        return Err(EngineError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
        });
    }
    let excluded = globs(&options.exclude)?;
    let skip = options.skip_dir.as_ref().and_then(|d| d.canonicalize().ok());
    let mut out = Scan::default();
    // follow_links: walkdir then detects loops and reports them as errors instead of looping.
    // Not sorted while walking (comparing names parses paths: most of a million-file walk);
    // the files are sorted once at the end.
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut walker = WalkDir::new(root).follow_links(true).into_iter().filter_entry(|e| {
        e.depth() == 0
            || (!e.file_name().to_string_lossy().starts_with('.')
                && !(e.file_type().is_dir() && skip.as_ref().is_some_and(|s| e.path().canonicalize().ok().as_ref() == Some(s))))
    });
    // Listing reads each folder once (file types come with the names); the per-file stats run
    // in parallel after it.
    let mut listed = Vec::new();
    let mut trusted_folders = HashSet::new();
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
    while let Some(entry) = walker.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let at = e.path().map_or_else(String::new, |p| p.display().to_string());
                out.problems.push((at, e.to_string()));
                continue;
            }
        };
        let Some(rel) = relative(entry.path(), root) else {
            out.problems.push((entry.path().display().to_string(), "file name is not valid UTF-8".into()));
            continue;
        };
        let target = entry.path_is_symlink().then(|| entry.path().canonicalize().ok()).flatten();
        if entry.file_type().is_dir() {
            if let Some(target) = target {
                if let Some(why) = refused_link_target(&target, &canonical_root) {
                    out.problems.push((rel, why));
                    walker.skip_current_dir();
                    continue;
                }
                out.links.push(target);
            }
            // Timed before its entries are read, so a change made while it is listed shows next time.
            if let Ok(meta) = entry.metadata() {
                let mtime = mtime_ns(&meta);
                if options.unchanged_since.get(&rel) == Some(&mtime) && now_ns - mtime > RACY_NS {
                    trusted_folders.insert(rel.clone());
                }
                out.folders.push((rel, mtime));
            }
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        // An empty set still builds a candidate per match: skip it for the common no-exclusions case.
        let is_excluded = !excluded.is_empty() && (excluded.is_match(&rel) || excluded.is_match(name.as_ref()));
        if !(is_image_name(&name) || is_video_name(&name)) || is_excluded {
            continue;
        }
        out.links.extend(target);
        let folder = rel.rsplit_once('/').map_or("", |(folder, _)| folder);
        match trusted_folders.contains(folder) {
            true => out.files.push(FoundFile { rel, size: 0, mtime_ns: 0, trusted: true }),
            false => listed.push((rel, entry.into_path())),
        }
    }
    for ((rel, _), meta) in listed.iter().zip(stat_all(&listed)) {
        match meta {
            Ok(meta) => out.files.push(FoundFile { rel: rel.clone(), size: meta.len(), mtime_ns: mtime_ns(&meta), trusted: false }),
            Err(e) => out.problems.push((rel.clone(), e.to_string())),
        }
    }
    out.files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Scans every folder of a library, with paths as the catalog stores them (see [`Roots`]):
/// folder times and problems too, so that the next quick scan finds them.
pub fn scan_roots(roots: &Roots, options: &ScanOptions) -> Result<Scan> {
    if !roots.is_several() {
        return scan(&roots.folders()[0].path, options);
    }
    let mut all = Scan::default();
    for (i, root) in roots.folders().iter().enumerate() {
        let stored = |rel: &str| if rel.is_empty() { root.name.clone() } else { roots.stored(i, rel) };
        let own_times = options.unchanged_since.iter().filter_map(|(folder, time)| {
            let rel = if *folder == root.name { Some("") } else { folder.strip_prefix(&root.name).and_then(|r| r.strip_prefix('/')) };
            rel.map(|rel| (rel.to_string(), *time))
        });
        let one = scan(&root.path, &ScanOptions { unchanged_since: own_times.collect(), ..options.clone() })?;
        all.files.extend(one.files.into_iter().map(|f| FoundFile { rel: roots.stored(i, &f.rel), ..f }));
        all.folders.extend(one.folders.into_iter().map(|(rel, time)| (stored(&rel), time)));
        all.links.extend(one.links);
        all.problems.extend(one.problems.into_iter().map(|(at, why)| (if at.starts_with('/') { at } else { stored(&at) }, why)));
    }
    all.files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(all)
}

/// `path` below `root`, `/`-separated; None when it is not valid UTF-8. Cut from the string
/// rather than compared component by component: this runs once per file.
fn relative(path: &Path, root: &Path) -> Option<String> {
    let rel = match (path.to_str(), root.to_str()) {
        (Some(path), Some(root)) => path.strip_prefix(root)?.trim_start_matches(std::path::MAIN_SEPARATOR),
        _ => path.strip_prefix(root).ok()?.to_str()?,
    };
    Some(if std::path::MAIN_SEPARATOR == '/' { rel.to_string() } else { rel.replace(std::path::MAIN_SEPARATOR, "/") })
}

/// Threads that `stat` files at once: listing a folder is one call, but each file's size and
/// mtime is another, and on a network share or a cold disk each waits on I/O.
const STAT_THREADS: usize = 8;

/// The metadata of every listed file, in order, read on several threads.
fn stat_all(listed: &[(String, PathBuf)]) -> Vec<std::io::Result<std::fs::Metadata>> {
    let chunk = listed.len().div_ceil(STAT_THREADS).max(1024);
    std::thread::scope(|scope| {
        let parts: Vec<_> = listed.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(|(_, p)| std::fs::metadata(p)).collect::<Vec<_>>())).collect();
        parts.into_iter().flat_map(|part| part.join().expect("stat threads do not panic")).collect()
    })
}

fn globs(patterns: &[String]) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(Glob::new(p).map_err(|e| EngineError::Usage(format!("bad --exclude pattern `{p}`: {e}")))?);
    }
    set.build().map_err(|e| EngineError::Usage(e.to_string()))
}

pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, rel.as_bytes()).unwrap();
    }

    fn rels(s: &Scan) -> Vec<&str> {
        s.files.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn finds_images_recursively_with_any_case_extension() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a.JPG", "b/c.png", "b/d/e.WebP", "f.tiff", "g.txt", "noext", ".jpg", "b/x.jpeg.bak", "v/clip.MP4", "v/x.mkv.part"] {
            touch(d.path(), f);
        }
        let s = scan(d.path(), &ScanOptions::default()).unwrap();
        assert_eq!(rels(&s), ["a.JPG", "b/c.png", "b/d/e.WebP", "f.tiff", "v/clip.MP4"]);
        assert_eq!(s.files[0].size, 5);
    }

    #[test]
    fn skips_hidden_entries_and_the_index_folder() {
        let d = tempfile::tempdir().unwrap();
        for f in [".hidden/a.jpg", "._b.jpg", "idx/c.jpg", "ok/d.gif"] {
            touch(d.path(), f);
        }
        let options = ScanOptions { skip_dir: Some(d.path().join("idx")), ..Default::default() };
        assert_eq!(rels(&scan(d.path(), &options).unwrap()), ["ok/d.gif"]);
    }

    #[test]
    fn exclusion_globs_match_paths_and_names() {
        let d = tempfile::tempdir().unwrap();
        for f in ["raw/a.jpg", "keep/b.jpg", "keep/c.gif"] {
            touch(d.path(), f);
        }
        let options = ScanOptions { exclude: vec!["raw/**".into(), "*.gif".into()], ..Default::default() };
        assert_eq!(rels(&scan(d.path(), &options).unwrap()), ["keep/b.jpg"]);
        let bad = ScanOptions { exclude: vec!["[".into()], ..Default::default() };
        assert!(scan(d.path(), &bad).unwrap_err().to_string().contains("bad --exclude pattern"));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_reported_not_followed_forever() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "a/b.jpg");
        std::os::unix::fs::symlink(d.path().join("a"), d.path().join("a/loop")).unwrap();
        let s = scan(d.path(), &ScanOptions::default()).unwrap();
        assert_eq!(rels(&s), ["a/b.jpg"]);
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    }

    #[test]
    fn files_in_folders_unchanged_since_the_last_scan_are_trusted_unread() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a/one.jpg", "b/two.jpg"] {
            touch(d.path(), f);
        }
        let first = scan(d.path(), &ScanOptions::default()).unwrap();
        assert!(first.files.iter().all(|f| !f.trusted && f.size > 0));
        let mut times: HashMap<String, i64> = first.folders.iter().cloned().collect();
        assert_eq!(times.len(), 3, "the root and two folders: {:?}", first.folders);
        // Make the recorded times old enough to be trusted, then change folder b.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for folder in ["a", "b"] {
            std::fs::File::open(d.path().join(folder)).unwrap().set_modified(old).unwrap();
        }
        let again = scan(d.path(), &ScanOptions::default()).unwrap();
        times = again.folders.iter().cloned().collect();
        touch(d.path(), "b/three.jpg");
        let quick = scan(d.path(), &ScanOptions { unchanged_since: times, ..Default::default() }).unwrap();
        let trusted: Vec<(&str, bool)> = quick.files.iter().map(|f| (f.rel.as_str(), f.trusted)).collect();
        assert_eq!(trusted, [("a/one.jpg", true), ("b/three.jpg", false), ("b/two.jpg", false)]);
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        assert!(scan(Path::new("/definitely/not/here"), &ScanOptions::default()).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn links_up_the_tree_or_into_the_kernel_are_not_entered_and_followed_ones_are_listed() {
        let d = tempfile::tempdir().unwrap();
        let (library, elsewhere) = (d.path().join("library"), d.path().join("elsewhere"));
        touch(&library, "a/b.jpg");
        touch(&elsewhere, "c.jpg");
        for (name, target) in [("root", Path::new("/")), ("up", d.path()), ("proc", Path::new("/proc/self")), ("dev", Path::new("/dev"))] {
            std::os::unix::fs::symlink(target, library.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(&elsewhere, library.join("linked")).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("c.jpg"), library.join("one.jpg")).unwrap();
        let s = scan(&library, &ScanOptions::default()).unwrap();
        assert_eq!(rels(&s), ["a/b.jpg", "linked/c.jpg", "one.jpg"]);
        // Loops are walkdir's own errors (full paths), the rest the scan's (stored paths).
        let name = |at: &str| Path::new(at).file_name().unwrap().to_string_lossy().into_owned();
        let mut refused: Vec<String> = s.problems.iter().map(|(at, _)| name(at)).collect();
        refused.sort();
        assert_eq!(refused, ["dev", "proc", "root", "up"], "{:?}", s.problems);
        let elsewhere = elsewhere.canonicalize().unwrap();
        let mut links = s.links.clone();
        links.sort();
        assert_eq!(links, [elsewhere.clone(), elsewhere.join("c.jpg")]);
    }
}
