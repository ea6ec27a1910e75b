//! Finding images by the words printed in them and by their file names. The query's words are
//! needles found anywhere (any substring, any script, any case); an image ranks by how many of
//! them it holds, then by BM25. `"a phrase"` is one needle, `-word` leaves out images holding it.

use serde::Serialize;

use super::query::{Query, TermKind};
use crate::{catalog::Catalog, Result};

/// Candidates each list looks at: far more than a page of results, few enough to check quickly.
pub const CANDIDATES: usize = 400;

/// Images holding fewer of the query's needles than this share are not matches: a long
/// descriptive query ("a dog sitting on a bench") should not pull in every sign with "on" on it.
const MIN_COVERAGE: f32 = 0.5;

/// Words that carry no meaning of their own in a search.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "of", "on", "in", "at", "with", "and", "or", "to", "for", "from", "by", "is", "are", "photo", "photos",
    "picture", "pictures", "image", "images", "的", "照片", "图片",
];

/// The text side of a query: what an image's words (or name) must hold, and must not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    /// Lower-case needles, each found anywhere; a phrase is one needle.
    needles: Vec<String>,
    /// Lower-case needles an image must not hold.
    excluded: Vec<String>,
}

/// Where an image's words matched, to show why it is a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// A stretch of the recognised text around the first match.
    pub text: String,
    /// Byte ranges of `text` (start, end) that match the query.
    pub marks: Vec<(usize, usize)>,
}

/// An image whose words (or name) hold the query's.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMatch {
    /// Its id.
    pub id: i64,
    /// The share of the query's needles it holds (0.5 to 1).
    pub coverage: f32,
    /// Where they are, for words (none for names).
    pub snippet: Option<Snippet>,
}

impl TextQuery {
    /// The needles of `query`'s text terms (images named by id have none); None when it has no
    /// needle at all.
    pub fn of(query: &Query) -> Option<TextQuery> {
        let (mut needles, mut excluded) = (Vec::new(), Vec::new());
        for term in &query.terms {
            let TermKind::Text(text) = &term.what else { continue };
            let side = if term.weight > 0.0 { &mut needles } else { &mut excluded };
            side.extend(needles_of(text, term.quoted));
        }
        needles.dedup();
        (!needles.is_empty()).then_some(TextQuery { needles, excluded })
    }

    /// The needles of plain text (no grammar), for a query whose date was taken out.
    pub fn of_text(text: &str) -> Option<TextQuery> {
        let needles = needles_of(text, false);
        (!needles.is_empty()).then_some(TextQuery { needles, excluded: Vec::new() })
    }

    /// Images whose recognised words hold the needles, best first.
    pub fn in_words(&self, catalog: &Catalog, limit: usize) -> Result<Vec<TextMatch>> {
        let long: Vec<&String> = self.needles.iter().filter(|n| n.chars().count() >= 3).collect();
        let candidates = match long.is_empty() {
            // Trigrams find any needle of three characters or more; shorter ones are looked for by scanning.
            false => catalog.words_matching(&long.iter().map(|n| format!("\"{}\"", n.replace('"', "\"\""))).collect::<Vec<_>>().join(" OR "), CANDIDATES)?,
            true => catalog.words_containing(&self.needles[0], CANDIDATES)?,
        };
        Ok(self.rank(candidates, limit, true))
    }

    /// Images whose stored path (folders and file name) holds the needles, best first.
    pub fn in_names(&self, catalog: &Catalog, limit: usize) -> Result<Vec<TextMatch>> {
        let longest = self.needles.iter().max_by_key(|n| n.chars().count()).expect("a text query has a needle");
        let candidates = catalog.paths_containing(&name_form(longest), CANDIDATES)?;
        let as_names = candidates.into_iter().map(|(id, path)| (id, name_form(&path))).collect();
        let names = TextQuery { needles: self.needles.iter().map(|n| name_form(n)).collect(), excluded: self.excluded.iter().map(|n| name_form(n)).collect() };
        Ok(names.rank(as_names, limit, false))
    }

    /// Keeps the candidates holding enough needles and none excluded, by coverage (stable: the
    /// candidates' own order breaks ties).
    fn rank(&self, candidates: Vec<(i64, String)>, limit: usize, snippets: bool) -> Vec<TextMatch> {
        let mut matches: Vec<TextMatch> = candidates
            .into_iter()
            .filter_map(|(id, text)| {
                let folded = fold(&text);
                if self.excluded.iter().any(|n| folded.contains(n.as_str())) {
                    return None;
                }
                let held = self.needles.iter().filter(|n| folded.contains(n.as_str())).count();
                let coverage = held as f32 / self.needles.len() as f32;
                (coverage >= MIN_COVERAGE).then(|| TextMatch { id, coverage, snippet: snippets.then(|| snippet(&text, &self.needles)) })
            })
            .collect();
        matches.sort_by(|a, b| b.coverage.total_cmp(&a.coverage));
        matches.truncate(limit);
        matches
    }
}

/// Lower case, one space for every run of white space: how needles and texts are compared.
fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Paths and needles compared as names: separators are spaces (`gate_b17.jpg` holds "gate b17").
fn name_form(text: &str) -> String {
    fold(&text.replace(['_', '-', '.', '/'], " "))
}

fn needles_of(text: &str, quoted: bool) -> Vec<String> {
    if quoted {
        let phrase = fold(text);
        return if phrase.is_empty() { Vec::new() } else { vec![phrase] };
    }
    let separators = |c: char| c.is_whitespace() || ",;!?()[]{}\"'，。！？、（）：；“”".contains(c);
    text.split(separators)
        .map(|w| w.trim_matches(|c: char| ".:".contains(c)).to_lowercase())
        .filter(|w| !STOP_WORDS.contains(&w.as_str()) && (w.chars().count() >= 2 || w.chars().any(is_cjk_char)))
        .collect()
}

/// Han characters and CJK punctuation (see [`crate::media::ocr::is_cjk`]).
pub(crate) fn is_cjk_char(c: char) -> bool {
    crate::media::ocr::is_cjk(c)
}

/// Characters of context kept on each side of the first match.
const CONTEXT: usize = 40;

/// The stretch of `text` around the first needle found, with every needle marked in it.
fn snippet(text: &str, needles: &[String]) -> Snippet {
    let chars: Vec<char> = text.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    let lower: Vec<char> = chars.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let found = |needle: &[char], from: usize| (from..=lower.len().saturating_sub(needle.len())).find(|&i| lower[i..].starts_with(needle));
    let needle_chars: Vec<Vec<char>> = needles.iter().map(|n| n.chars().collect()).collect();
    let first = needle_chars.iter().filter(|n| !n.is_empty()).filter_map(|n| found(n, 0)).min().unwrap_or(0);
    let start = first.saturating_sub(CONTEXT);
    let end = (first + CONTEXT * 2).min(chars.len());
    let mut marks: Vec<(usize, usize)> = Vec::new();
    for needle in needle_chars.iter().filter(|n| !n.is_empty()) {
        let mut from = start;
        while let Some(at) = found(needle, from).filter(|&at| at + needle.len() <= end) {
            marks.push((at, at + needle.len()));
            from = at + needle.len();
        }
    }
    marks.sort();
    // A phrase and a word inside it overlap: one mark covers both.
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (a, b) in marks {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let marks = merged;
    let byte_of = |i: usize| chars[start..i].iter().map(|c| c.len_utf8()).sum::<usize>();
    let mut shown: String = chars[start..end].iter().collect();
    let mut marks: Vec<(usize, usize)> = marks.into_iter().map(|(a, b)| (byte_of(a), byte_of(b))).collect();
    if start > 0 {
        shown.insert(0, '…');
        marks.iter_mut().for_each(|(a, b)| (*a, *b) = (*a + '…'.len_utf8(), *b + '…'.len_utf8()));
    }
    if end < chars.len() {
        shown.push('…');
    }
    Snippet { text: shown, marks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> TextQuery {
        TextQuery::of(&Query::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn needles_drop_stop_words_and_keep_phrases_and_exclusions() {
        assert_eq!(query("a receipt from the shop").needles, ["receipt", "shop"]);
        assert_eq!(query("\"wifi password\" -guest").needles, ["wifi password"]);
        assert_eq!(query("\"wifi password\" -guest").excluded, ["guest"]);
        assert_eq!(query("北京南站 出口").needles, ["北京南站", "出口"]);
        assert!(TextQuery::of(&Query::parse("a the").unwrap()).is_none());
    }

    #[test]
    fn ranking_wants_most_needles_and_refuses_excluded_words() {
        let q = query("invoice 4711 -draft");
        let candidates = vec![(1, "Invoice 4800".to_string()), (2, "INVOICE\n4711 total".to_string()), (3, "invoice 4711 DRAFT".to_string()), (4, "menu".to_string())];
        let ranked = q.rank(candidates, 10, true);
        assert_eq!(ranked.iter().map(|m| (m.id, m.coverage)).collect::<Vec<_>>(), [(2, 1.0), (1, 0.5)]);
        let snippet = ranked[0].snippet.as_ref().unwrap();
        let marked: Vec<&str> = snippet.marks.iter().map(|&(a, b)| &snippet.text[a..b]).collect();
        assert_eq!(marked, ["INVOICE", "4711"]);
    }

    #[test]
    fn snippets_mark_within_multibyte_text() {
        let text = format!("{}北京南站 出口 {}", "字".repeat(60), "x".repeat(100));
        let s = snippet(&text, &["北京南站".to_string(), "出口".to_string()]);
        assert!(s.text.starts_with('…') && s.text.ends_with('…'));
        let marked: Vec<&str> = s.marks.iter().map(|&(a, b)| &s.text[a..b]).collect();
        assert_eq!(marked, ["北京南站", "出口"]);
    }

    #[test]
    fn names_match_across_separators() {
        let q = query("gate b17");
        let names = TextQuery { needles: q.needles.iter().map(|n| name_form(n)).collect(), excluded: vec![] };
        let ranked = names.rank(vec![(7, name_form("trips/Gate_B17.jpg")), (8, name_form("gate/b1.jpg"))], 10, false);
        assert_eq!(ranked.iter().map(|m| (m.id, m.coverage)).collect::<Vec<_>>(), [(7, 1.0), (8, 0.5)], "b17 is not in b1");
    }
}
