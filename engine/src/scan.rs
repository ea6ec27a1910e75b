//! Finding the images under a folder: recursive, case-insensitive extensions, hidden entries and
//! the index folder skipped, symlinks followed without looping, exclusion globs.

use std::{
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use globset::{Glob, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

use super::{EngineError, Result};

/// Extensions clipfind reads (lower case; matched case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Glob patterns; a file matches when its relative path or its name matches.
    pub exclude: Vec<String>,
    /// A folder never to descend into (the index itself when it lives inside the data).
    pub skip_dir: Option<PathBuf>,
}

/// An image file found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Relative to the data root, `/`-separated.
    pub rel: String,
    pub size: u64,
    pub mtime_ns: i64,
}

#[derive(Debug, Default)]
pub struct Scan {
    /// Sorted by relative path.
    pub files: Vec<FoundFile>,
    /// Entries that could not be read (permission, symlink loop, non-UTF-8 name), with why.
    pub problems: Vec<(String, String)>,
}

pub fn is_image_name(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
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
    let walker = WalkDir::new(root).follow_links(true).sort_by_file_name().into_iter().filter_entry(|e| {
        e.depth() == 0
            || (!e.file_name().to_string_lossy().starts_with('.')
                && !(e.file_type().is_dir() && skip.as_ref().is_some_and(|s| e.path().canonicalize().ok().as_ref() == Some(s))))
    });
    // Listing reads each folder once (file types come with the names); the per-file stats run
    // in parallel after it.
    let mut listed = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let at = e.path().map_or_else(String::new, |p| p.display().to_string());
                out.problems.push((at, e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel_path) = entry.path().strip_prefix(root) else { continue };
        let Some(rel) = rel_path.to_str().map(|s| s.replace(std::path::MAIN_SEPARATOR, "/")) else {
            out.problems.push((entry.path().display().to_string(), "file name is not valid UTF-8".into()));
            continue;
        };
        let name = entry.file_name().to_string_lossy();
        if !is_image_name(&name) || excluded.is_match(&rel) || excluded.is_match(name.as_ref()) {
            continue;
        }
        listed.push((rel, entry.into_path()));
    }
    for ((rel, _), meta) in listed.iter().zip(stat_all(&listed)) {
        match meta {
            Ok(meta) => out.files.push(FoundFile { rel: rel.clone(), size: meta.len(), mtime_ns: mtime_ns(&meta) }),
            Err(e) => out.problems.push((rel.clone(), e.to_string())),
        }
    }
    out.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
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
        for f in ["a.JPG", "b/c.png", "b/d/e.WebP", "f.tiff", "g.txt", "noext", ".jpg", "b/x.jpeg.bak"] {
            touch(d.path(), f);
        }
        let s = scan(d.path(), &ScanOptions::default()).unwrap();
        assert_eq!(rels(&s), ["a.JPG", "b/c.png", "b/d/e.WebP", "f.tiff"]);
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
    fn a_missing_folder_is_an_error() {
        assert!(scan(Path::new("/definitely/not/here"), &ScanOptions::default()).is_err());
    }
}
