//! The words read in images: what is waiting to be read, storing what was, and finding images by
//! the words in them (SQLite FTS5 with the trigram tokenizer: any substring, in any script).

use rusqlite::{params, OptionalExtension};

use super::{connection::Catalog, rows::db_error, writer::Writer};
use crate::Result;

/// A file whose words have not been looked for yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// Its id.
    pub id: i64,
    /// Its stored path.
    pub path: String,
    /// Its content hash (its thumbnails' key).
    pub hash: String,
    /// Whether it is a video (its kept frames are read, from their thumbnails).
    pub video: bool,
}

/// How far the reading of words has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WordsProgress {
    /// Files whose words were looked for.
    pub looked: u64,
    /// Files in which words were found.
    pub with_words: u64,
    /// Files not looked at yet.
    pub waiting: u64,
}

impl Catalog {
    /// Up to `limit` files whose words have not been looked for, oldest first.
    pub fn unread(&self, limit: usize) -> Result<Vec<Unread>> {
        let err = db_error(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, path, hash, frame_ms IS NOT NULL FROM images WHERE id NOT IN (SELECT image FROM ocr) ORDER BY id LIMIT ?1")
            .map_err(&err)?;
        let rows = stmt.query_map([limit as i64], |r| Ok(Unread { id: r.get(0)?, path: r.get(1)?, hash: r.get(2)?, video: r.get(3)? })).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    /// Counts of files looked at, with words, and waiting. One scan of `ocr`: its rows go with
    /// their images (the schema's triggers), so the files waiting are the images less them.
    pub fn words_progress(&self) -> Result<WordsProgress> {
        let (looked, with_words) = self
            .conn
            .query_row("SELECT COUNT(*), COALESCE(SUM(found > 0), 0) FROM ocr", [], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))
            .map_err(db_error(&self.path))?;
        Ok(WordsProgress { looked, with_words, waiting: self.count()?.saturating_sub(looked) })
    }

    /// The words read in image `id`, if any were.
    pub fn words_of(&self, id: i64) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT text FROM words WHERE rowid = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(db_error(&self.path))
    }

    /// The first `chars` characters of the words read in each of `ids` that has any, in one query.
    pub fn words_of_each(&self, ids: &[i64], chars: usize) -> Result<std::collections::HashMap<i64, String>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let err = db_error(&self.path);
        let marks = vec!["?"; ids.len()].join(",");
        let sql = format!("SELECT rowid, substr(text, 1, {chars}) FROM words WHERE rowid IN ({marks})");
        let mut stmt = self.conn.prepare(&sql).map_err(&err)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(ids), |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    /// Up to `limit` images whose words match the FTS5 `expression`, best first (BM25), with
    /// their text.
    pub fn words_matching(&self, expression: &str, limit: usize) -> Result<Vec<(i64, String)>> {
        let err = db_error(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT rowid, text FROM words WHERE words MATCH ?1 ORDER BY bm25(words) LIMIT ?2")
            .map_err(&err)?;
        let rows = stmt.query_map(params![expression, limit as i64], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    /// Up to `limit` images whose words hold `needle` anywhere (case-insensitive for ASCII): for
    /// needles shorter than a trigram, which MATCH cannot find.
    pub fn words_containing(&self, needle: &str, limit: usize) -> Result<Vec<(i64, String)>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare_cached("SELECT rowid, text FROM words WHERE text LIKE ?1 ESCAPE '\\' LIMIT ?2").map_err(&err)?;
        let rows = stmt.query_map(params![like_pattern(needle), limit as i64], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    /// Up to `limit` images whose stored path holds `needle` (case-insensitive for ASCII).
    pub fn paths_containing(&self, needle: &str, limit: usize) -> Result<Vec<(i64, String)>> {
        let parts: Vec<&str> = needle.split_whitespace().filter(|part| part.chars().count() >= 3).collect();
        if !parts.is_empty() {
            return self.paths_holding(&parts, limit);
        }
        self.paths_like(needle, limit)
    }

    /// Up to `limit` images whose path holds every one of `parts` (three characters or more
    /// each), from the names index.
    fn paths_holding(&self, parts: &[&str], limit: usize) -> Result<Vec<(i64, String)>> {
        let err = db_error(&self.path);
        let expression = parts.iter().map(|part| format!("\"{}\"", part.replace('"', "\"\""))).collect::<Vec<_>>().join(" ");
        let mut stmt = self.conn.prepare_cached("SELECT rowid, path FROM names WHERE names MATCH ?1 LIMIT ?2").map_err(&err)?;
        let rows = stmt.query_map(params![expression, limit as i64], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    /// As [`Catalog::paths_containing`] by reading every path: for needles of one or two
    /// characters (出口), which the names index cannot find.
    fn paths_like(&self, needle: &str, limit: usize) -> Result<Vec<(i64, String)>> {
        let err = db_error(&self.path);
        let mut stmt = self.conn.prepare_cached("SELECT id, path FROM images WHERE path LIKE ?1 ESCAPE '\\' LIMIT ?2").map_err(&err)?;
        let rows = stmt.query_map(params![like_pattern(needle), limit as i64], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }
}

/// `%needle%` with LIKE's own characters escaped.
fn like_pattern(needle: &str) -> String {
    let escaped = needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl Writer<'_> {
    /// Records that the words of image `id` were looked for by `engine`, and the text found
    /// (empty: none).
    pub fn set_words(&self, id: i64, text: &str, engine: &str) -> Result<()> {
        let err = db_error(self.path);
        self.tx.execute("DELETE FROM words WHERE rowid = ?1", [id]).map_err(&err)?;
        if !text.is_empty() {
            self.tx.execute("INSERT INTO words (rowid, text) VALUES (?1, ?2)", params![id, text]).map_err(&err)?;
        }
        let found = text.chars().count() as i64;
        self.tx
            .execute(
                "INSERT INTO ocr (image, found, engine) VALUES (?1, ?2, ?3) ON CONFLICT(image) DO UPDATE SET found = excluded.found, engine = excluded.engine",
                params![id, found, engine],
            )
            .map(drop)
            .map_err(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog_with(paths: &[&str]) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        catalog
            .write(|w| {
                for (i, path) in paths.iter().enumerate() {
                    w.tx.execute(
                        "INSERT INTO images (path, size, mtime_ns, hash, width, height, indexed_at, slot) VALUES (?1, 1, 1, ?2, 1, 1, 0, ?3)",
                        params![path, format!("h{i}"), i as i64],
                    )
                    .map_err(db_error(w.path))?;
                }
                Ok(())
            })
            .unwrap();
        (dir, catalog)
    }

    #[test]
    fn words_are_found_by_any_substring_and_go_with_their_image() {
        let (_dir, mut catalog) = catalog_with(&["a.png", "b.png", "c.png"]);
        catalog
            .write(|w| {
                w.set_words(1, "INVOICE 4711\nTotal 12.50", "t")?;
                w.set_words(2, "北京南站 出口", "t")?;
                w.set_words(3, "", "t")
            })
            .unwrap();
        assert_eq!(catalog.words_progress().unwrap(), WordsProgress { looked: 3, with_words: 2, waiting: 0 });
        let starts = catalog.words_of_each(&[1, 2, 3, 99], 6).unwrap();
        assert_eq!((starts.len(), starts[&1].as_str(), starts[&2].as_str()), (2, "INVOIC", "北京南站 出"), "the start, in characters, of those with words");
        let ids = |found: Vec<(i64, String)>| found.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(catalog.words_matching("\"invoice\"", 10).unwrap()), [1]);
        assert_eq!(ids(catalog.words_matching("\"nvoic\"", 10).unwrap()), [1], "substrings match");
        assert_eq!(ids(catalog.words_matching("\"南站\" OR \"北京南\"", 10).unwrap()), [2]);
        assert_eq!(ids(catalog.words_containing("出口", 10).unwrap()), [2], "two characters: LIKE");
        assert_eq!(ids(catalog.words_containing("50%", 10).unwrap()), Vec::<i64>::new(), "LIKE's own characters are literal");
        // Changed content: its words are read again; a removed image takes its words along.
        catalog.write(|w| w.tx.execute("UPDATE images SET hash = 'new' WHERE id = 1", []).map(drop).map_err(db_error(w.path))).unwrap();
        catalog.write(|w| w.delete(2)).unwrap();
        assert_eq!(catalog.words_of(1).unwrap(), None);
        assert_eq!(catalog.words_of(2).unwrap(), None);
        assert_eq!(catalog.words_progress().unwrap(), WordsProgress { looked: 1, with_words: 0, waiting: 1 });
        assert_eq!(catalog.unread(10).unwrap().iter().map(|u| u.path.as_str()).collect::<Vec<_>>(), ["a.png"]);
    }

    #[test]
    fn names_are_found_by_their_parts_and_follow_renames_and_removals() {
        let (_dir, mut catalog) = catalog_with(&["Trips/Lost_Cat.jpg", "lost-and-found/dog.png", "北京/出口.jpg"]);
        let found = |catalog: &Catalog, needle: &str| catalog.paths_containing(needle, 10).unwrap().into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(found(&catalog, "lost cat"), [1], "every part, across separators, any case");
        assert_eq!(found(&catalog, "lost"), [1, 2]);
        assert_eq!(found(&catalog, "出口"), [3], "two characters: read from the paths");
        assert_eq!(found(&catalog, "\"cat"), Vec::<i64>::new(), "a quote is a character, not syntax");
        catalog.write(|w| w.tx.execute("UPDATE images SET path = 'Trips/tabby.jpg' WHERE id = 1", []).map(drop).map_err(db_error(w.path))).unwrap();
        assert_eq!(found(&catalog, "lost cat"), Vec::<i64>::new(), "the old name is gone");
        assert_eq!(found(&catalog, "tabby"), [1]);
        catalog.write(|w| w.delete(2)).unwrap();
        assert_eq!(found(&catalog, "lost"), Vec::<i64>::new());
    }
}
