//! Retrieval quality on a labelled image set: the numbers that say whether search works.
//!
//! A set is a folder of images with an `eval.json` listing text queries with the images that
//! should match them, and groups of images that show the same thing. The whole pipeline runs as
//! it does for a user (scan, decode, preprocess, encode, index, search); the metrics are the
//! ones `models/tools/eval_demo.py` computes in Python, so the two can be compared number by number.
//!
//! Queries in other languages sit beside it in `eval-LANG.json` (`eval-zh.json`: the same images,
//! Chinese queries, each with a `kind` such as `colour+shape`); each is reported on its own.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    clip::Clip,
    ingest::indexer::{self, IndexOptions},
    search::searcher::{Hit, Matching, SearchParams, Searcher},
    EngineError, Result,
};

/// The file in a set's folder that lists its images and expected matches.
pub const EVAL_FILE: &str = "eval.json";

/// The contents of a set's `eval.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Every image of the set, with its labels.
    pub images: Vec<LabelledImage>,
    /// Text queries, each with the images it should find.
    pub text_queries: Vec<TextQuery>,
    /// Images that show the same thing: each should find the others.
    #[serde(default)]
    pub image_groups: Vec<Vec<String>>,
}

/// One image of the set and what it shows.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelledImage {
    /// Relative to the set's folder, `/`-separated.
    pub file: String,
    /// What the image shows (for the shapes world: color, shape, count, size, ...).
    #[serde(flatten)]
    pub attributes: HashMap<String, serde_json::Value>,
}

/// A text query and the images that count as right answers.
#[derive(Debug, Clone, Deserialize)]
pub struct TextQuery {
    /// The query, as a user would type it.
    pub text: String,
    /// Files that should match, relative to the set's folder, `/`-separated.
    pub relevant: Vec<String>,
    /// What the query names (`colour+shape`, `count+shape`, ...), reported per kind when given.
    #[serde(default)]
    pub kind: Option<String>,
}

/// The queries of one `eval-LANG.json` (its images and groups are the set's own and are not read).
#[derive(Debug, Clone, Deserialize)]
pub struct LanguageQueries {
    /// Text queries in that language, each with the images it should find.
    pub text_queries: Vec<TextQuery>,
}

/// A labelled folder of images.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// The set's folder, holding `eval.json` and the images.
    pub root: PathBuf,
    /// Its parsed `eval.json`.
    pub manifest: Manifest,
    /// The queries of each `eval-LANG.json` beside it, by language code.
    pub languages: BTreeMap<String, LanguageQueries>,
}

/// Ranking quality over a list of queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Share of queries with a relevant image first.
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    /// Share of queries with a relevant image in the top 5.
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    /// Share of queries with a relevant image in the top 10.
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    /// Mean of 1 / rank of the first relevant image.
    pub mrr: f64,
    /// Mean share of relevant images among the top 5.
    #[serde(rename = "precision@5")]
    pub precision_at_5: f64,
    /// Number of queries measured.
    pub queries: usize,
}

/// What [`evaluate`] measured: ranking quality of text and image queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Number of images in the set.
    pub images: usize,
    /// Each text query against the set's images.
    pub text_to_image: Metrics,
    /// Each image of a group as the query, the rest of its group relevant.
    pub image_to_image: Metrics,
    /// The queries of each `eval-LANG.json`, by language code (absent when the set has none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub languages: BTreeMap<String, LanguageReport>,
}

/// Ranking quality of one language's text queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageReport {
    /// Every query of the language.
    pub text_to_image: Metrics,
    /// The queries of each kind, for those that name one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_kind: BTreeMap<String, Metrics>,
}

impl EvalSet {
    /// Reads the set in `dir` from its `eval.json`; an error when it is missing, invalid or lists no text queries.
    pub fn load(dir: &Path) -> Result<EvalSet> {
        let file = dir.join(EVAL_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            EngineError::Usage(format!("no evaluation set in {}: cannot read {EVAL_FILE} ({e})", dir.display()))
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| EngineError::Usage(format!("{} is not a valid evaluation set: {e}", file.display())))?;
        if manifest.text_queries.is_empty() {
            return Err(EngineError::Usage(format!("{} lists no text queries", file.display())));
        }
        Ok(EvalSet { root: dir.to_path_buf(), manifest, languages: language_queries(dir)? })
    }

    /// Indexes the set's folder into `index_dir` with `clip` and opens it for searching.
    pub fn index(&self, clip: Clip, index_dir: &Path) -> Result<Searcher> {
        let summary = indexer::run(&clip, &IndexOptions { thumbnails: false, ..IndexOptions::new(self.root.clone(), index_dir.to_path_buf()) })?;
        if let Some(skip) = summary.skipped.first() {
            return Err(EngineError::Usage(format!("evaluation image {} could not be indexed: {}", skip.path, skip.reason)));
        }
        Searcher::open(index_dir, clip)
    }

    /// The attribute `key` of the image at `path`, when the manifest labels it.
    pub fn attribute(&self, path: &str, key: &str) -> Option<&serde_json::Value> {
        self.manifest.images.iter().find(|i| i.file == path)?.attributes.get(key)
    }
}

/// The `eval-LANG.json` files in `dir`, by language code (a file that is not a valid one is an error).
fn language_queries(dir: &Path) -> Result<BTreeMap<String, LanguageQueries>> {
    let mut languages = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| EngineError::Usage(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(language) = name.strip_prefix("eval-").and_then(|n| n.strip_suffix(".json")) else { continue };
        let file = entry.path();
        let text = std::fs::read_to_string(&file).map_err(|e| EngineError::Usage(format!("cannot read {}: {e}", file.display())))?;
        let queries: LanguageQueries = serde_json::from_str(&text)
            .map_err(|e| EngineError::Usage(format!("{} is not a valid list of queries: {e}", file.display())))?;
        languages.insert(language.to_string(), queries);
    }
    Ok(languages)
}

/// Runs every query of `set` against `searcher` (which must hold the set's images).
pub fn evaluate(searcher: &Searcher, set: &EvalSet) -> Result<Report> {
    let images = set.manifest.images.len();
    let everything = SearchParams { k: images.max(1), min_score: f32::NEG_INFINITY, ..Default::default() };
    let text = text_results(searcher, &set.manifest.text_queries, everything)?;
    let mut languages = BTreeMap::new();
    for (language, queries) in &set.languages {
        languages.insert(language.clone(), language_report(searcher, &queries.text_queries, everything)?);
    }
    let mut image = Vec::new();
    for group in set.manifest.image_groups.iter().filter(|g| g.len() > 1) {
        for file in group {
            let id = searcher
                .id_of(Path::new(file))?
                .ok_or_else(|| EngineError::NotFound(format!("{file}, listed in {EVAL_FILE}, is not in the index")))?;
            let hits = searcher.similar_to(id, everything, &crate::catalog::filter::Filter::default())?;
            image.push(ranked(&hits, group.iter().filter(|g| *g != file).map(String::as_str).collect()));
        }
    }
    Ok(Report { images, text_to_image: metrics(&text), image_to_image: metrics(&image), languages })
}

/// The text queries' figures when asked as the search box asks them (the query grammar, a date
/// taken out, the words in images and the names fused in as `matching` says), for comparing
/// fusion with the pictures alone.
pub fn text_metrics(searcher: &Searcher, set: &EvalSet, matching: Matching) -> Result<Metrics> {
    let everything = SearchParams { k: set.manifest.images.len().max(1), min_score: f32::NEG_INFINITY, matching, ..Default::default() };
    let filter = crate::catalog::filter::Filter::default();
    let ranked = (set.manifest.text_queries.iter())
        .map(|q| Ok(ranked(&searcher.search_query(&q.text, everything, &filter, None)?, q.relevant.iter().map(String::as_str).collect())))
        .collect::<Result<Vec<_>>>()?;
    Ok(metrics(&ranked))
}

fn text_results(searcher: &Searcher, queries: &[TextQuery], everything: SearchParams) -> Result<Vec<Ranked>> {
    queries
        .iter()
        .map(|q| Ok(ranked(&searcher.search_text(&q.text, everything)?, q.relevant.iter().map(String::as_str).collect())))
        .collect()
}

/// All of a language's queries, then those of each kind.
fn language_report(searcher: &Searcher, queries: &[TextQuery], everything: SearchParams) -> Result<LanguageReport> {
    let results = text_results(searcher, queries, everything)?;
    let mut kinds: BTreeMap<String, Vec<Ranked>> = BTreeMap::new();
    for (query, result) in queries.iter().zip(results.iter()) {
        if let Some(kind) = &query.kind {
            kinds.entry(kind.clone()).or_default().push(result.clone());
        }
    }
    Ok(LanguageReport { text_to_image: metrics(&results), by_kind: kinds.iter().map(|(k, r)| (k.clone(), metrics(r))).collect() })
}

/// One query's result: the rank of the first relevant hit (None: not found at all) and how many
/// of the top 5 are relevant.
#[derive(Clone)]
struct Ranked {
    first_relevant: Option<usize>,
    relevant_in_top5: usize,
}

fn ranked(hits: &[Hit], relevant: HashSet<&str>) -> Ranked {
    let is_relevant = |h: &Hit| relevant.contains(h.path.as_str());
    Ranked {
        first_relevant: hits.iter().position(is_relevant).map(|p| p + 1),
        relevant_in_top5: hits.iter().take(5).filter(|h| is_relevant(h)).count(),
    }
}

fn metrics(results: &[Ranked]) -> Metrics {
    let n = results.len().max(1) as f64;
    let recall = |k: usize| results.iter().filter(|r| r.first_relevant.is_some_and(|rank| rank <= k)).count() as f64 / n;
    Metrics {
        recall_at_1: recall(1),
        recall_at_5: recall(5),
        recall_at_10: recall(10),
        mrr: results.iter().filter_map(|r| r.first_relevant).map(|rank| 1.0 / rank as f64).sum::<f64>() / n,
        precision_at_5: results.iter().map(|r| r.relevant_in_top5 as f64 / 5.0).sum::<f64>() / n,
        queries: results.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(paths: &[&str]) -> Vec<Hit> {
        paths.iter().enumerate().map(|(i, p)| Hit { id: i as i64, path: p.to_string(), folder: None, score: 0.0, width: 1, height: 1, taken: None, taken_source: None, camera: None, location: None, kind: "image", timestamp: None, duration: None, moments: Vec::new(), motion: None, matched: Vec::new(), words: None }).collect()
    }

    #[test]
    fn ranks_and_metrics_follow_their_definitions() {
        let all = hits(&["a", "b", "c", "d", "e", "f", "g"]);
        let first = ranked(&all, ["a", "c"].into());
        assert_eq!((first.first_relevant, first.relevant_in_top5), (Some(1), 2));
        let sixth = ranked(&all, ["f"].into());
        assert_eq!((sixth.first_relevant, sixth.relevant_in_top5), (Some(6), 0));
        let missing = ranked(&all, ["zzz"].into());
        assert_eq!(missing.first_relevant, None);

        let m = metrics(&[first, sixth, missing]);
        assert_eq!(m.queries, 3);
        assert!((m.recall_at_1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.recall_at_5 - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.recall_at_10 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.mrr - (1.0 + 1.0 / 6.0) / 3.0).abs() < 1e-12);
        assert!((m.precision_at_5 - (2.0 / 5.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn metrics_read_the_python_reference_names() {
        let json = r#"{"recall@1": 0.5, "recall@5": 0.9, "recall@10": 1.0, "mrr": 0.7, "precision@5": 0.4, "queries": 40}"#;
        let m: Metrics = serde_json::from_str(json).expect("parses");
        assert_eq!((m.recall_at_5, m.queries), (0.9, 40));
    }

    #[test]
    fn queries_in_other_languages_load_beside_eval_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
        write(EVAL_FILE, r#"{"images": [{"file": "a.png", "color": "blue"}], "text_queries": [{"text": "a blue circle", "relevant": ["a.png"]}]}"#);
        write("eval-zh.json", r#"{"language": "zh", "images": [], "text_queries": [{"text": "蓝色的圆", "kind": "colour+shape", "relevant": ["a.png"]}, {"text": "圆", "relevant": ["a.png"]}]}"#);
        write("notes.json", "not a query file");
        let set = EvalSet::load(dir.path()).expect("loads");
        assert_eq!(set.languages.keys().collect::<Vec<_>>(), ["zh"]);
        let zh = &set.languages["zh"].text_queries;
        assert_eq!((zh[0].kind.as_deref(), zh[1].kind.as_deref()), (Some("colour+shape"), None));

        let ranked_by_kind = [ranked(&hits(&["a.png"]), ["a.png"].into()), ranked(&hits(&["b.png"]), ["a.png"].into())];
        assert_eq!(metrics(&ranked_by_kind).recall_at_1, 0.5);

        write("eval-ja.json", "{");
        let err = EvalSet::load(dir.path()).expect_err("bad language file").to_string();
        assert!(err.contains("eval-ja.json") && err.contains("not a valid list of queries"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_set_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = EvalSet::load(dir.path()).expect_err("no eval.json").to_string();
        assert!(err.contains("no evaluation set"), "{err}");
        std::fs::write(dir.path().join(EVAL_FILE), r#"{"images": [], "text_queries": []}"#).expect("write");
        let err = EvalSet::load(dir.path()).expect_err("no queries").to_string();
        assert!(err.contains("no text queries"), "{err}");
        std::fs::write(dir.path().join(EVAL_FILE), "{").expect("write");
        let err = EvalSet::load(dir.path()).expect_err("bad json").to_string();
        assert!(err.contains("not a valid evaluation set"), "{err}");
    }
}
