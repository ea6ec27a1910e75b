//! Types and limits shared by the server functions and the browser.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

/// Longest query accepted; CLIP reads 77 tokens, anything this long is a mistake or abuse.
pub const MAX_QUERY_CHARS: usize = 2000;
pub const DEFAULT_K: usize = 30;
pub const MAX_K: usize = 200;
/// The seed's similarity threshold.
pub const DEFAULT_MIN_SCORE: f32 = 0.1;
pub const MAX_UPLOAD_BYTES: usize = 20 << 20;
/// Fields of an upload besides the image (`k`, `min`, the filters, the page): a few dozen bytes each.
pub const MAX_UPLOAD_FIELDS: usize = 16;
pub const MAX_UPLOAD_FIELD_BYTES: usize = 1024;
/// Uploads read at once; more wait their turn (each holds up to [`MAX_UPLOAD_BYTES`]).
pub const MAX_CONCURRENT_UPLOADS: usize = 4;
/// The most an upload's body may be: what is read of the image (4x its limit, so the client gets
/// the 413) and the other fields with their multipart headers.
pub const MAX_UPLOAD_BODY: usize = 4 * MAX_UPLOAD_BYTES + 64 * 1024;
/// Largest upload the server decodes, in pixels: a 50 MP photo decodes to at most 200 MB, and
/// decodes wait for room in the engine's decode budget, so uploads cannot exhaust memory.
pub const MAX_UPLOAD_PIXELS: u64 = 50_000_000;

/// Whether the server has an index it can search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IndexStatus {
    NotLoaded {
        reason: String,
        /// The command that builds the missing index, when that is the fix.
        command: Option<String>,
    },
    Ready(IndexInfo),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    pub images: u64,
    pub model: String,
    /// The bundled demo model, not real CLIP: the page says so.
    pub demo_model: bool,
    /// Unix seconds of the last indexing that embedded something.
    pub last_indexed: i64,
    /// Files whose words were looked for, those with words, and those waiting.
    #[serde(default)]
    pub words: WordsInfo,
}

/// How far the reading of the words in images has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordsInfo {
    pub looked: u64,
    pub with_words: u64,
    pub waiting: u64,
}

/// A page id for live typing: up to 64 letters, digits, `-` or `_`.
pub fn validate_page(page: Option<&str>) -> Result<Option<&str>, String> {
    match page {
        None | Some("") => Ok(None),
        Some(p) if p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => Ok(Some(p)),
        Some(_) => Err("page must be up to 64 letters, digits, - or _".into()),
    }
}

/// What the indexer is doing now (watch mode, or `clipfind index` run by hand).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indexing {
    /// `scanning`, `embedding`, `indexing vectors` or `reading words`.
    pub phase: String,
    /// Files read of `total` in the embedding phase.
    pub done: u64,
    pub total: u64,
    /// Files read per second.
    pub per_second: f64,
    /// Estimated seconds until the embedding phase ends.
    pub seconds_left: Option<f64>,
    /// The folder being read.
    pub folder: String,
    /// Files this run could not index.
    pub skipped: u64,
    /// Those files and why (asked for with `?skipped=1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_files: Vec<SkippedFile>,
}

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// `GET /api/status`: the index, and the indexing run in progress if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    #[serde(flatten)]
    pub index: IndexStatus,
    pub indexing: Option<Indexing>,
    /// How concurrent text queries were batched into encoder calls since the server started:
    /// `text_batches[n - 1]` calls encoded n queries together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_batches: Vec<u64>,
    /// `vector_batches[n - 1]` FAISS calls searched n queries together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vector_batches: Vec<u64>,
    /// The request came from a browser signed in with the password (it may sign out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signed_in: bool,
}

/// One event of `GET /api/live` (server-sent events): sent when indexing progresses or the
/// index changes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LiveStatus {
    /// Images in the index the server searches now.
    pub images: u64,
    /// Changes whenever the searched index does: results shown before are out of date.
    pub version: String,
    pub indexing: Option<Indexing>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: i64,
    /// Relative to its image folder.
    pub path: String,
    /// The image folder's name, when the library has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Cosine similarity.
    pub score: f32,
    pub width: u32,
    pub height: u32,
    /// `/thumb/ID`
    pub thumb: String,
    /// `/image/ID`: the original, as it is.
    pub image: String,
    /// What the page shows: `/image/ID`, or `/view/ID` (a JPEG) for formats browsers cannot
    /// show (HEIC, JPEG XL, TIFF, MPO).
    #[serde(default)]
    pub view: String,
    /// When it was taken: ISO 8601 on the photographer's wall clock (with the UTC offset when
    /// the file gives one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Where `taken` came from: `exif-original`, `exif-datetime` or `file-time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_source: Option<String>,
    /// Camera make and model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// Latitude and longitude, when the file has a GPS position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<(f64, f64)>,
    /// `image` or `video`.
    #[serde(default = "image_kind")]
    pub kind: String,
    /// A video's best-matching moment, in seconds from its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// A video's length, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// A video's other matching moments, best first (for a Live Photo, its clip's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moments: Vec<Moment>,
    /// A Live Photo's clip, `/image/ID` of the short video beside the still; or a motion
    /// photo's, `/motion/ID`, the clip inside the still's own file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion: Option<String>,
    /// Why it is a result: `picture`, `words` (the words read in it), `name` (its file name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<String>,
    /// The words read in it, when any were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<HitWords>,
}

/// The words read in a result (the start of them), and where the query's words are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitWords {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<Snippet>,
}

/// A stretch of recognised text with the query's words marked: byte ranges (start, end) of `text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snippet {
    pub text: String,
    pub marks: Vec<(usize, usize)>,
}

impl Snippet {
    /// The text in pieces, each with whether it is marked (out-of-range marks are dropped).
    pub fn pieces(&self) -> Vec<(String, bool)> {
        let mut pieces = Vec::new();
        let mut at = 0;
        for &(start, end) in &self.marks {
            let (Some(before), Some(marked)) = (self.text.get(at..start), self.text.get(start..end)) else { continue };
            if !before.is_empty() {
                pieces.push((before.to_string(), false));
            }
            pieces.push((marked.to_string(), true));
            at = end;
        }
        if let Some(rest) = self.text.get(at..).filter(|r| !r.is_empty()) {
            pieces.push((rest.to_string(), false));
        }
        pieces
    }
}

fn image_kind() -> String {
    "image".into()
}

/// A moment of a video and how well it matches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    /// Seconds from the start.
    pub timestamp: f64,
    /// Cosine similarity.
    pub score: f32,
}

/// `h:mm:ss` (or `m:ss` under an hour), as a video player shows a time.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).floor() as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

impl Hit {
    /// Whether the hit is a moment of a video.
    pub fn is_video(&self) -> bool {
        self.kind == "video"
    }

    /// The day it was taken (`2023-06-01`), when known.
    pub fn day(&self) -> Option<&str> {
        self.taken.as_deref().and_then(|t| t.get(..10))
    }

    /// The capture time in full and where it came from, for a tooltip.
    pub fn taken_title(&self) -> String {
        let from = match self.taken_source.as_deref() {
            Some("exif-original") => "taken (EXIF)",
            Some("exif-datetime") => "EXIF date",
            _ => "file time",
        };
        format!("{} · {from}", self.taken.as_deref().unwrap_or_default().replace('T', " "))
    }

    /// How the page names the image: its path, after its folder's name when there are several.
    pub fn label(&self) -> String {
        match &self.folder {
            Some(folder) => format!("{folder}: {}", self.path),
            None => self.path.clone(),
        }
    }
}

/// How a search is narrowed and ordered: the one list of the filter and sort parameters. The
/// URL and the JSON API carry each field as a query parameter of its name, the CLI as an option
/// (`--in` for the folder); each is text, validated on the server (a bad one is a 400 naming it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(clap::Args))]
pub struct Narrow {
    /// Only this folder and below (paths as stored: relative to the data folder, `NAME/...` with
    /// several folders).
    #[cfg_attr(feature = "ssr", arg(long = "in", value_name = "FOLDER"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Taken at or after the start of this period (YYYY, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]).
    #[cfg_attr(feature = "ssr", arg(long, value_name = "DATE"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Taken before the start of this period.
    #[cfg_attr(feature = "ssr", arg(long, value_name = "DATE"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Taken within this period (a year, a month, a day).
    #[cfg_attr(feature = "ssr", arg(long, value_name = "DATE"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Only these file extensions (comma-separated: jpg,png).
    #[cfg_attr(feature = "ssr", arg(long, value_name = "EXT"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    /// Only images or only videos.
    #[cfg_attr(feature = "ssr", arg(long, value_name = "image|video"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// Only landscape, portrait or square images.
    #[cfg_attr(feature = "ssr", arg(long, value_name = "landscape|portrait|square"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orientation: Option<String>,
    /// Only photos from cameras whose make or model contains this (any case).
    #[cfg_attr(feature = "ssr", arg(long))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// Only photos with a GPS position (1) or without one (0).
    #[cfg_attr(feature = "ssr", arg(long, value_name = "1|0"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub located: Option<String>,
    /// Order of the results: relevance (default), newest or oldest (the same results are chosen).
    #[cfg_attr(feature = "ssr", arg(long, value_name = "relevance|newest|oldest"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// What the query is matched against: all (the pictures, the words read in them and the
    /// file names, in one list; the default), words (only the words in images) or pictures.
    #[cfg_attr(feature = "ssr", arg(long = "match", value_name = "all|words|pictures"))]
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matching: Option<String>,
}

impl Narrow {
    /// The parameters set, as (name, value) pairs in a fixed order (the URL's).
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("folder", &self.folder),
            ("after", &self.after),
            ("before", &self.before),
            ("taken", &self.taken),
            ("ext", &self.ext),
            ("media", &self.media),
            ("orientation", &self.orientation),
            ("camera", &self.camera),
            ("located", &self.located),
            ("sort", &self.sort),
            ("match", &self.matching),
        ];
        fields.into_iter().filter_map(|(name, v)| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(|v| (name, v))).collect()
    }

    /// The value of parameter `name`, when it is set.
    pub fn get(&self, name: &str) -> Option<String> {
        self.pairs().into_iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    /// From URL parameters by name.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Narrow {
        Narrow {
            folder: get("folder"),
            after: get("after"),
            before: get("before"),
            taken: get("taken"),
            ext: get("ext"),
            media: get("media"),
            orientation: get("orientation"),
            camera: get("camera"),
            located: get("located"),
            sort: get("sort"),
            matching: get("match"),
        }
    }
}

/// The server's answer to one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReply {
    /// What was searched for, as the server understood it.
    pub query: String,
    pub index: IndexStatus,
    pub hits: Vec<Hit>,
    /// Server time spent, in milliseconds.
    pub took_ms: f64,
    /// Where it went: milliseconds by stage (encode, vectors, words, rows), waits for a batch
    /// included; `took_ms` less their sum is the rest (building the reply, the thread hand-off).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<(String, f64)>,
}

/// The duplicate threshold when none is asked for (the engine's default).
pub const DEFAULT_DUPLICATE_THRESHOLD: f32 = 0.95;
/// Near copies shot this close together (EXIF times) are a burst.
pub const DEFAULT_BURST_SECONDS: i64 = 5;

/// `threshold` for the duplicate search: 0.8 to 1.
pub fn parse_threshold(threshold: Option<&str>) -> Result<f32, String> {
    let Some(t) = threshold.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(DEFAULT_DUPLICATE_THRESHOLD) };
    match t.parse::<f32>() {
        Ok(v) if (0.8..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("The threshold must be a number from 0.8 to 1, not “{t}”.")),
    }
}

/// `GET /api/duplicates`: groups of copies, largest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicatesReply {
    pub threshold: f32,
    /// Images in the index.
    pub images: u64,
    pub groups: Vec<DuplicateGroup>,
}

/// Files that are copies or near copies of each other, the largest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateGroup {
    /// `exact`, `near` or `burst`.
    pub kind: String,
    pub members: Vec<DuplicateMember>,
}

/// One file of a duplicate group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateMember {
    pub id: i64,
    pub path: String,
    /// Bytes.
    pub size: u64,
    pub width: u32,
    pub height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Members with the same hash are byte-identical.
    pub hash: String,
    /// Cosine similarity to the group's first file.
    pub similarity: f32,
    /// Other files with exactly this content.
    #[serde(default)]
    pub copies: usize,
}

/// An error of the JSON API and the page. The JSON API answers it as
/// `{"error": "<message>", "status": N}` with HTTP status N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for a person.
    pub error: String,
    /// The HTTP status it was answered with.
    pub status: u16,
}

impl ApiError {
    /// An error answered with `status`. On the server it also sets the response's status.
    pub fn new(status: u16, error: impl Into<String>) -> ApiError {
        let error = ApiError { error: error.into(), status };
        #[cfg(feature = "ssr")]
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR));
        }
        error
    }

    /// 400: what was sent cannot be used.
    pub fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError::new(400, error)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

impl std::error::Error for ApiError {}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    /// Errors of the server-function machinery itself: arguments that cannot be read are the
    /// caller's fault (400); an unreachable server or an unreadable answer are the network's.
    fn from_server_fn_error(value: ServerFnErrorErr) -> ApiError {
        match value {
            ServerFnErrorErr::Args(m) => ApiError::bad_request(format!("The request's parameters cannot be read: {m}")),
            ServerFnErrorErr::MissingArg(m) => ApiError::bad_request(format!("A parameter is missing: {m}")),
            ServerFnErrorErr::Request(m) => ApiError::new(503, format!("The server could not be reached: {m}")),
            ServerFnErrorErr::Deserialization(m) => ApiError::new(502, format!("The server's answer could not be read: {m}")),
            other => ApiError::new(500, other.to_string()),
        }
    }
}

/// Trims the query and refuses empty or over-long ones with a message for the user.
pub fn validate_query(raw: &str) -> Result<&str, String> {
    let query = raw.trim();
    if query.is_empty() {
        return Err("Type something to search for.".into());
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("The query is too long: at most {MAX_QUERY_CHARS} characters."));
    }
    Ok(query)
}

/// Parameters arrive as text (URL or form) so that a malformed one gets a message, not a 500.
pub fn parse_k(k: Option<&str>) -> Result<usize, String> {
    let Some(k) = k.map(str::trim).filter(|k| !k.is_empty()) else { return Ok(DEFAULT_K) };
    match k.parse::<usize>() {
        Ok(n @ 1..=MAX_K) => Ok(n),
        _ => Err(format!("k must be a whole number from 1 to {MAX_K}, not “{k}”.")),
    }
}

pub fn parse_min_score(min: Option<&str>) -> Result<f32, String> {
    let Some(m) = min.map(str::trim).filter(|m| !m.is_empty()) else { return Ok(DEFAULT_MIN_SCORE) };
    match m.parse::<f32>() {
        Ok(v) if (-1.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("The minimum similarity must be a number from -1 to 1, not “{m}”.")),
    }
}

pub fn parse_id(id: Option<&str>) -> Result<i64, String> {
    let id = id.map(str::trim).unwrap_or_default();
    id.parse::<i64>().map_err(|_| format!("An image id is a number, not “{id}”."))
}

/// Everything but RFC 3986's unreserved characters is escaped in a query value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a URL query value.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(validate_query("  a dog \n"), Ok("a dog"));
        assert!(validate_query("   ").is_err());
        assert!(validate_query(&"x".repeat(MAX_QUERY_CHARS)).is_ok());
        let long = validate_query(&"é".repeat(MAX_QUERY_CHARS + 1)).unwrap_err();
        assert!(long.contains("at most 2000"), "{long}");
    }

    #[test]
    fn k_and_min_score_have_defaults_and_bounds() {
        assert_eq!(parse_k(None), Ok(DEFAULT_K));
        assert_eq!(parse_k(Some(" 12 ")), Ok(12));
        for bad in ["0", "201", "abc", "-3", "1.5"] {
            assert!(parse_k(Some(bad)).unwrap_err().contains(bad), "{bad}");
        }
        assert_eq!(parse_min_score(Some("")), Ok(DEFAULT_MIN_SCORE));
        assert_eq!(parse_min_score(Some("-0.5")), Ok(-0.5));
        for bad in ["1.5", "NaN", "x"] {
            assert!(parse_min_score(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse_id(Some("7")), Ok(7));
        assert!(parse_id(None).is_err() && parse_id(Some("../etc")).is_err());
    }

    #[test]
    fn encode_component_escapes_everything_reserved() {
        assert_eq!(encode_component("a dog & cat/été?"), "a%20dog%20%26%20cat%2F%C3%A9t%C3%A9%3F");
    }
}
