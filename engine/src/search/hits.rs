//! What a search is asked and what it answers: the parameters (how many, how similar, in which
//! order), each hit with its video moments, and the index's figures.

use serde::Serialize;

use std::path::PathBuf;

use super::words::Snippet;
use crate::{catalog::ImageRow, ingest::roots::Roots};

/// How many results, how similar they must be, and their order.
#[derive(Debug, Clone, Copy)]
pub struct SearchParams {
    /// Most results to return.
    pub k: usize,
    /// Cosine similarity below which a result is dropped.
    pub min_score: f32,
    /// The order of the results (which results are chosen does not depend on it).
    pub sort: Sort,
    /// What a query is matched against.
    pub matching: Matching,
    /// How the pictures, words and names are fused into one list.
    pub fusion: super::fusion::Fusion,
}

/// What a query is matched against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Matching {
    /// The pictures, the words read in them and their names, in one ranked list.
    #[default]
    Everything,
    /// Only the words read in images (`--ocr-only`).
    Words,
    /// Only the pictures: CLIP alone, as before words were read.
    Pictures,
}

impl Default for SearchParams {
    /// The seed's defaults: 30 results, similarity at least 0.1, most similar first.
    fn default() -> Self {
        SearchParams { k: 30, min_score: 0.1, sort: Sort::Relevance, matching: Matching::Everything, fusion: Default::default() }
    }
}

/// The order of a search's results: the `k` most similar above the cutoff are chosen, then
/// ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Most similar first.
    #[default]
    Relevance,
    /// Most recently taken first (photos without a capture time last).
    Newest,
    /// Earliest taken first (photos without a capture time last).
    Oldest,
}

impl std::str::FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "relevance" | "" => Ok(Sort::Relevance),
            "newest" | "date" => Ok(Sort::Newest),
            "oldest" => Ok(Sort::Oldest),
            _ => Err(format!("'{s}' is not a sort order: use relevance, newest (or date) or oldest")),
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// Catalog id of the image.
    pub id: i64,
    /// Relative to its data folder, `/`-separated.
    pub path: String,
    /// The data folder's name, when the library has several (see [`Roots`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Cosine similarity to the query (higher is more alike).
    pub score: f32,
    /// Width in pixels of the upright image.
    pub width: u32,
    /// Height in pixels of the upright image.
    pub height: u32,
    /// When it was taken (ISO 8601, the photographer's wall clock, with the UTC offset when
    /// known) and where that came from: `exif-original`, `exif-datetime` or `file-time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Where [`Hit::taken`] came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_source: Option<&'static str>,
    /// Camera make and model, when the file says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// Latitude and longitude in degrees, when the file has a GPS position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<(f64, f64)>,
    /// `image` or `video`.
    pub kind: &'static str,
    /// A video's best-matching moment, in seconds from its start (its frame ranks the video).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// A video's length, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// A video's other matching moments (above the cutoff, among the candidates the search
    /// looked at), best first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moments: Vec<Moment>,
    /// A Live Photo's or motion photo's motion part: the short clip beside the still, or inside
    /// its file (its frames' matches are the still's moments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motion: Option<Motion>,
    /// Why it is a result: `picture` (CLIP), `words` (the words read in it), `name` (its file
    /// or folder name); empty for searches by image.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<&'static str>,
    /// The words read in it, when any were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<HitWords>,
}

/// The words read in a result, and where the query's words are in them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HitWords {
    /// The recognised text (at most [`HIT_WORDS_CHARS`] characters of it).
    pub text: String,
    /// The stretch around the query's words, marked, when they matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<Snippet>,
}

/// Characters of recognised text a hit carries; the whole is one request away.
pub const HIT_WORDS_CHARS: usize = 2000;

/// The clip of a Live Photo or a motion photo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Motion {
    /// Catalog id of the clip's file: a Live Photo's clip (`/image/ID`), or the motion photo
    /// itself when the clip is inside it.
    pub id: i64,
    /// Its length, in seconds.
    pub duration: f64,
    /// Whether the clip is inside the still's own file (a Samsung or Google motion photo).
    pub embedded: bool,
}

/// A moment of a video and how well its frame matches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moment {
    /// Seconds from the start.
    pub timestamp: f64,
    /// Cosine similarity of that frame to the query.
    pub score: f32,
}

/// Most other moments a video hit lists.
pub(super) const MOMENTS: usize = 5;

/// About a loaded index, for status lines and logs.
#[derive(Debug, Clone, Serialize)]
pub struct IndexStats {
    /// Number of images in the index.
    pub images: u64,
    /// Name of the model the index was built with.
    pub model: String,
    /// FAISS index factory string of the vector index searched (`Flat` = exact).
    pub factory: String,
    /// Recall@10 of the vector index against exact search (1 for exact; measured when an
    /// approximate index was trained).
    pub recall: Option<f32>,
    /// The (first) folder that was indexed, as recorded by the last indexing (empty when unknown).
    pub data_root: PathBuf,
    /// Every folder that was indexed, as recorded by the last indexing.
    pub roots: Roots,
    /// Unix seconds of the most recent indexing that embedded something.
    pub last_indexed: i64,
    /// Changes logged after the approximate index snapshot, replayed into it at load.
    pub replayed_changes: usize,
    /// How far the reading of the words in images has come.
    pub words: crate::catalog::WordsProgress,
}

pub(super) fn sort_rows(rows: &mut [(ImageRow, f32, Vec<Moment>)], sort: Sort) {
    sort_by_taken(rows, sort, |(row, _, _)| row);
}

/// Puts `items` in `sort` order by the time their `row` was taken (relevance keeps them).
pub(super) fn sort_by_taken<T>(items: &mut [T], sort: Sort, row: impl Fn(&T) -> &ImageRow) {
    let taken = |item: &T| row(item).meta.taken.map(|t| t.local);
    match sort {
        Sort::Relevance => {}
        Sort::Newest => items.sort_by_key(|item| std::cmp::Reverse(taken(item))),
        Sort::Oldest => items.sort_by_key(|item| (taken(item).is_none(), taken(item))),
    }
}
