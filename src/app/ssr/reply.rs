//! Server functions' answers: run the engine off the async threads, turn its hits into a reply
//! and its errors into an [`ApiError`] with the right status.

use std::time::Instant;

use clipfind_engine::{
    catalog::filter::Filter,
    search::searcher::{Hit as EngineHit, Matching, SearchParams, Searcher},
    search::stages,
    EngineError,
};
use leptos::prelude::*;

use super::AppState;
use crate::app::types::{
    parse_k, parse_min_score, ApiError, DuplicateGroup, DuplicateMember, Hit, Narrow, SearchReply,
    MAX_UPLOAD_PIXELS,
};

/// Runs `search` on a blocking thread (encoders and FAISS are CPU work) and builds the reply.
/// Without an index, the reply says why instead of failing.
pub async fn reply(
    query: String,
    search: impl FnOnce(&Searcher) -> Result<Vec<EngineHit>, EngineError> + Send + 'static,
) -> Result<SearchReply, ApiError> {
    // One loaded index for the whole request, even if a newer one is swapped in meanwhile.
    let state = app_state()?.current();
    let Some(searcher) = state.searcher().cloned() else {
        return Ok(SearchReply { query, index: state.status().clone(), hits: Vec::new(), took_ms: 0.0, stages: Vec::new() });
    };
    let started = Instant::now();
    let (found, stages) = tokio::task::spawn_blocking(move || {
        stages::take();
        (search(&searcher), stages::take())
    })
        .await
        .map_err(|e| {
            tracing::error!("a search stopped: {e}");
            ApiError::new(500, "The search stopped; the server's log says why.")
        })?;
    Ok(SearchReply {
        query,
        index: state.status().clone(),
        hits: found.map_err(api_error)?.into_iter().map(to_hit).collect(),
        took_ms: started.elapsed().as_secs_f64() * 1e3,
        stages: stages.into_iter().map(|(stage, ms)| (stage.to_string(), ms)).collect(),
    })
}

/// The status an engine error is answered with: what the user sent (an undecodable image, an
/// unknown id, a bad option) is a 4xx; anything else is the server's fault, logged.
pub fn api_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Image { reason, .. } => ApiError::new(415, format!("That file is not a usable image: {reason}.")),
        EngineError::NotFound(message) => ApiError::new(404, message),
        EngineError::Superseded => ApiError::new(409, "A newer search from this page replaced this one; its answer was not computed."),
        EngineError::Usage(message) | EngineError::Tokenize(message) => ApiError::bad_request(message),
        e @ EngineError::Query(_) => ApiError::bad_request(format!("{}.", capitalised(&e.to_string()))),
        // Milvus down or refusing the credentials: the message names the store's address and
        // what failed (never a password or a path), and the server retries on the next search.
        EngineError::StoreUnavailable(message) => {
            tracing::warn!("search failed: {message}");
            ApiError::new(503, format!("The vector store is unavailable: {message}"))
        }
        // The cause names files and folders: logged, not sent.
        e => {
            tracing::error!("search failed: {}", e.chain());
            ApiError::new(500, "The search failed; the server's log says why.")
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `k`, `min` and `sort` as the engine takes them; a malformed one is a 400 that says what it wants.
pub fn search_params(k: Option<&str>, min: Option<&str>, narrow: &Narrow) -> Result<SearchParams, ApiError> {
    let sort = narrow.sort.as_deref().map(str::trim).unwrap_or_default().parse().map_err(|e: String| ApiError::bad_request(format!("sort: {e}.")))?;
    let matching = match narrow.get("match").as_deref() {
        None | Some("all") => Matching::Everything,
        Some("words") => Matching::Words,
        Some("pictures") => Matching::Pictures,
        Some(other) => return Err(ApiError::bad_request(format!("match: '{other}' is not what a query can be matched against: use all, words or pictures."))),
    };
    Ok(SearchParams { k: parse_k(k).map_err(ApiError::bad_request)?, min_score: parse_min_score(min).map_err(ApiError::bad_request)?, sort, matching, ..Default::default() })
}

/// The engine's filter for the URL's filter parameters; a malformed one is a 400 naming the
/// parameter and what it accepts.
pub fn search_filter(narrow: &Narrow) -> Result<Filter, ApiError> {
    Filter::from_params(|name| narrow.get(name)).map_err(|bad| ApiError::bad_request(format!("{}: {}.", bad.name, bad.reason)))
}

/// Refuses, before decoding, an upload whose header declares more than [`MAX_UPLOAD_PIXELS`]
/// (a few bytes of lossless WebP or PNG can declare gigabytes of pixels).
pub fn check_upload_pixels(bytes: &[u8]) -> Result<(), ApiError> {
    let (w, h) = clipfind_engine::clip::preprocess::dimensions(bytes)
        .map_err(|reason| ApiError::new(415, format!("That file is not a usable image: {reason}.")))?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_UPLOAD_PIXELS {
        return Err(ApiError::new(
            413,
            format!("The image is {w}x{h} ({} MP); uploads are limited to {} MP.", pixels / 1_000_000, MAX_UPLOAD_PIXELS / 1_000_000),
        ));
    }
    Ok(())
}

/// Who a request proved itself to be (the server's access check puts it on every request it
/// lets through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No password is set: the server is reachable from this machine only.
    Local,
    /// A signed-in browser.
    Session,
    /// HTTP Basic with the password.
    Password,
    /// A bearer token (its id).
    Token(String),
}

/// Whether this request came from a signed-in browser (the page then offers to sign out).
pub fn signed_in_by_session() -> bool {
    use_context::<axum::http::request::Parts>().is_some_and(|parts| parts.extensions.get::<Principal>() == Some(&Principal::Session))
}

/// A turn to read an upload (held until the reply is made).
pub async fn upload_turn() -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    Ok(app_state()?.upload_turn().await)
}

/// The state the server provides to every server function.
pub fn app_state() -> Result<AppState, ApiError> {
    use_context::<AppState>().ok_or_else(|| ApiError::new(500, "The server has no search state for this request."))
}

fn to_hit(h: EngineHit) -> Hit {
    // A video's thumbnail is the frame of the moment that matched.
    let thumb = match h.timestamp {
        Some(t) => format!("/thumb/{}?t={}", h.id, (t * 1000.0).round() as i64),
        None => format!("/thumb/{}", h.id),
    };
    Hit {
        thumb,
        image: format!("/image/{}", h.id),
        view: match h.kind == "video" || clipfind_engine::ingest::browsers_show(&h.path) {
            true => format!("/image/{}", h.id),
            false => format!("/view/{}", h.id),
        },
        id: h.id,
        path: h.path,
        folder: h.folder,
        score: h.score,
        width: h.width,
        height: h.height,
        taken: h.taken,
        taken_source: h.taken_source.map(str::to_string),
        camera: h.camera,
        location: h.location,
        kind: h.kind.to_string(),
        timestamp: h.timestamp,
        duration: h.duration,
        moments: h.moments.into_iter().map(|m| crate::app::types::Moment { timestamp: m.timestamp, score: m.score }).collect(),
        motion: h.motion.map(|m| match m.embedded {
            true => format!("/motion/{}", m.id),
            false => format!("/image/{}", m.id),
        }),
        matched: h.matched.into_iter().map(str::to_string).collect(),
        words: h.words.map(|w| crate::app::types::HitWords {
            text: w.text,
            snippet: w.snippet.map(|s| crate::app::types::Snippet { text: s.text, marks: s.marks }),
        }),
    }
}

/// A duplicate group as the page and the JSON API show it.
pub fn to_duplicate_group(group: clipfind_engine::search::duplicates::Group) -> DuplicateGroup {
    use clipfind_engine::search::duplicates::GroupKind;
    let kind = match group.kind {
        GroupKind::Exact => "exact",
        GroupKind::Near => "near",
        GroupKind::Burst => "burst",
    };
    DuplicateGroup {
        kind: kind.into(),
        members: (group.members.into_iter())
            .map(|m| DuplicateMember { id: m.id, path: m.path, size: m.size, width: m.width, height: m.height, taken: m.taken, hash: m.hash, similarity: m.similarity, copies: m.copies })
            .collect(),
    }
}
