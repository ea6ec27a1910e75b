//! A library's data folders, and how the catalog's paths name the files in them.
//!
//! With one folder a stored path is relative to it, as it always was. With several, each folder
//! has a name (its base name, made unique with `-2`, `-3`, ...) and a stored path is
//! `NAME/relative`. Going from one folder to several (or back) rewrites the stored paths in one
//! transaction instead of reading every file again to find it "renamed"; a folder taken off the
//! list loses its images on that run, with a warning that says how many.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{catalog::Catalog, EngineError, Result};

/// Meta key: the folders as JSON. `data_root` (the first folder) stays for older readers.
const ROOTS_KEY: &str = "data_roots";
const FIRST_KEY: &str = "data_root";

/// One data folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// How results name it (empty when the library has one folder).
    pub name: String,
    /// Its canonical path.
    pub path: PathBuf,
}

/// The data folders of a library, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Roots {
    folders: Vec<Root>,
}

impl Roots {
    /// The folders given by the user: each must exist; one given twice counts once. Folders
    /// the last run knew keep their names.
    pub fn choose(folders: &[PathBuf], before: &Roots) -> Result<Roots> {
        let mut paths: Vec<PathBuf> = Vec::new();
        for folder in folders {
            let path = folder.canonicalize().map_err(|source| EngineError::Io { path: folder.clone(), source })?;
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(EngineError::Usage("indexing needs the image folder".into()));
        }
        Ok(Self::named(paths, before))
    }

    /// Names canonical folders: none for one; for several, the name each had before, else a
    /// unique base name.
    fn named(paths: Vec<PathBuf>, before: &Roots) -> Roots {
        if paths.len() == 1 {
            return Roots { folders: vec![Root { name: String::new(), path: paths[0].clone() }] };
        }
        let old_name = |path: &PathBuf| before.folders.iter().find(|f| &f.path == path && !f.name.is_empty()).map(|f| f.name.clone());
        let mut folders: Vec<Root> = paths.iter().map(|p| Root { name: old_name(p).unwrap_or_default(), path: p.clone() }).collect();
        for i in 0..folders.len() {
            if !folders[i].name.is_empty() {
                continue;
            }
            let base = folders[i].path.file_name().map_or_else(|| "root".to_string(), |n| n.to_string_lossy().into_owned());
            let mut name = base.clone();
            let mut n = 1;
            while folders.iter().any(|f| f.name == name) {
                n += 1;
                name = format!("{base}-{n}");
            }
            folders[i].name = name;
        }
        Roots { folders }
    }

    /// The folders recorded by the last indexing run (none for an index never built).
    pub fn recorded(catalog: &Catalog) -> Result<Roots> {
        if let Some(json) = catalog.meta(ROOTS_KEY)? {
            return serde_json::from_str(&json)
                .map_err(|e| EngineError::Catalog { path: catalog.path().to_path_buf(), reason: format!("unreadable {ROOTS_KEY}: {e}") });
        }
        Ok(catalog.meta(FIRST_KEY)?.map_or_else(Roots::default, |first| Self::named(vec![PathBuf::from(first)], &Roots::default())))
    }

    /// The folders, in order.
    pub fn folders(&self) -> &[Root] {
        &self.folders
    }

    /// Whether paths carry a folder name.
    pub fn is_several(&self) -> bool {
        self.folders.len() > 1
    }

    /// The stored path of `rel` in folder number `i`.
    pub fn stored(&self, i: usize, rel: &str) -> String {
        match self.is_several() {
            true => format!("{}/{rel}", self.folders[i].name),
            false => rel.to_string(),
        }
    }

    /// The folder and the path within it of a stored path; None when no folder is named so, or
    /// when the path could leave its folder (absolute, or with `..` or `.` parts: a catalog
    /// edited by hand, or written by something other than a scan).
    pub fn split<'a>(&self, stored: &'a str) -> Option<(&Root, &'a str)> {
        let (root, rel) = match self.is_several() {
            true => {
                let (name, rel) = stored.split_once('/')?;
                (self.folders.iter().find(|f| f.name == name)?, rel)
            }
            false => (self.folders.first()?, stored),
        };
        is_plain_relative(rel).then_some((root, rel))
    }

    /// The file a stored path names.
    pub fn full_path(&self, stored: &str) -> Option<PathBuf> {
        self.split(stored).map(|(root, rel)| root.path.join(rel))
    }

    /// The file a stored path names; a path under no listed folder names nothing that exists
    /// (reading it fails as a missing file would).
    pub fn file(&self, stored: &str) -> PathBuf {
        // `..` defused: joined as it is, `/nonexistent/../x` would name `/x`.
        self.full_path(stored).unwrap_or_else(|| PathBuf::from("/nonexistent").join(stored.replace("..", "__").trim_start_matches('/')))
    }

    /// One folder as given, without checking it: a server told where the library is now.
    pub fn single(path: PathBuf) -> Roots {
        Roots { folders: vec![Root { name: String::new(), path }] }
    }

    /// The stored path of a file given by the user: absolute (inside one of the folders), or
    /// already as stored.
    pub fn stored_of(&self, path: &Path) -> Option<String> {
        for (i, root) in self.folders.iter().enumerate() {
            if let Ok(rel) = path.strip_prefix(&root.path) {
                return Some(self.stored(i, &slashed(rel)?));
            }
        }
        Some(slashed(path)?.trim_start_matches("./").to_string())
    }

    /// Records these folders in `catalog`. Stored paths follow a change between one folder and
    /// several; the images of a folder taken off the list get a path no scan finds (`/NAME/...`),
    /// so this run removes them the usual way (or keeps their vectors, should the same photo
    /// turn up in a listed folder). One folder replaced by another carries over: a library moved.
    /// `before` is what the catalog recorded ([`Roots::recorded`]); nothing is written when
    /// the folders are the same.
    pub fn record(&self, catalog: &mut Catalog, before: &Roots) -> Result<()> {
        if before == self {
            return Ok(());
        }
        let moved = !before.is_several() && !self.is_several();
        let mut renames = Vec::new();
        for old in &before.folders {
            let from = before.prefix(old);
            match self.folders.iter().find(|f| f.path == old.path) {
                Some(new) => renames.push((from, self.prefix(new))),
                None if moved => {
                    tracing::warn!("the index was built for {}; now indexing {} (paths are relative, so it carries over)", old.path.display(), self.folders[0].path.display());
                }
                None => {
                    let count = catalog.count_under(&from)?;
                    tracing::warn!("{} is no longer one of the library's folders: its {count} images leave the index", old.path.display());
                    renames.push((from.clone(), format!("/{from}")));
                }
            }
        }
        renames.retain(|(from, to)| from != to);
        let json = serde_json::to_string(self).expect("folders serialise");
        catalog.write(|w| {
            if !renames.is_empty() {
                w.rename_prefixes(&renames)?;
            }
            w.set_meta(ROOTS_KEY, &json)?;
            w.set_meta(FIRST_KEY, &self.folders[0].path.to_string_lossy())
        })
    }

    /// The start of the stored paths of `root` ("" for a single folder).
    fn prefix(&self, root: &Root) -> String {
        match self.is_several() {
            true => format!("{}/", root.name),
            false => String::new(),
        }
    }
}

/// `a/b/c.jpg`: only names, no root, no `..`, `.` or empty part, no NUL.
pub fn is_plain_relative(rel: &str) -> bool {
    !rel.is_empty() && !rel.contains('\0') && rel.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// A relative path as stored: `/`-separated UTF-8.
fn slashed(path: &Path) -> Option<String> {
    let s = path.to_str()?;
    Some(if std::path::MAIN_SEPARATOR == '/' { s.to_string() } else { s.replace(std::path::MAIN_SEPARATOR, "/") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_folder_keeps_plain_paths_several_are_named() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a/photos", "b/photos", "c/phone"] {
            std::fs::create_dir_all(d.path().join(f)).unwrap();
        }
        let none = Roots::default();
        let one = Roots::choose(&[d.path().join("a/photos")], &none).unwrap();
        assert_eq!(one.stored(0, "x/y.jpg"), "x/y.jpg");
        assert_eq!(one.full_path("x/y.jpg"), Some(d.path().canonicalize().unwrap().join("a/photos/x/y.jpg")));
        let folders = [d.path().join("a/photos"), d.path().join("b/photos"), d.path().join("c/phone"), d.path().join("a/photos")];
        let three = Roots::choose(&folders, &none).unwrap();
        let names: Vec<&str> = three.folders().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["photos", "photos-2", "phone"]);
        assert_eq!(three.stored(1, "y.jpg"), "photos-2/y.jpg");
        let (root, rel) = three.split("phone/z/w.png").unwrap();
        assert_eq!((root.name.as_str(), rel), ("phone", "z/w.png"));
        assert!(three.split("elsewhere/a.jpg").is_none());
        let inside = d.path().canonicalize().unwrap().join("b/photos/q.jpg");
        assert_eq!(three.stored_of(&inside).as_deref(), Some("photos-2/q.jpg"));
        assert!(Roots::choose(&[d.path().join("missing")], &none).is_err());
        // Known folders keep their names whatever the order; new ones take free names.
        let again = Roots::choose(&[d.path().join("c/phone"), d.path().join("b/photos"), d.path().join("d")].map(|p| {
            std::fs::create_dir_all(&p).unwrap();
            p
        }), &three)
        .unwrap();
        let names: Vec<&str> = again.folders().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["phone", "photos-2", "d"]);
    }

    #[test]
    fn stored_paths_that_could_leave_their_folder_name_nothing() {
        let one = Roots::single("/photos".into());
        assert_eq!(one.full_path("2024/a.jpg"), Some(PathBuf::from("/photos/2024/a.jpg")));
        for bad in ["/etc/passwd", "../secret.png", "2024/../../x.jpg", "./a.jpg", "a//b.jpg", ""] {
            assert_eq!(one.full_path(bad), None, "{bad}");
            assert!(!one.file(bad).starts_with("/photos"), "{bad}");
        }
        let several = Roots { folders: vec![Root { name: "a".into(), path: "/a".into() }, Root { name: "b".into(), path: "/b".into() }] };
        assert_eq!(several.full_path("a/x.jpg"), Some(PathBuf::from("/a/x.jpg")));
        assert_eq!(several.full_path("a/../b/x.jpg"), None);
        assert_eq!(several.full_path("a//etc/passwd"), None);
    }
}
