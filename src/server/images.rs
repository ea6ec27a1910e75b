//! Original images and thumbnails, served by id: a client never names a path, so no traversal.
//! The files themselves go out through tower-http's `ServeFile` (Range requests, Last-Modified
//! and If-Modified-Since, content types). The ETag names what is actually served: the catalog's
//! content hash plus the served file's size and modification time, so a file overwritten in
//! place never answers 304 to its old ETag. A missing thumbnail is made on demand.

use axum::{
    body::Body,
    extract::{Path, Query, Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use tower_http::services::ServeFile;

use std::sync::Arc;

use clipfind_engine::{catalog::ImageRow, ingest::roots::Roots, search::searcher::Searcher};

use crate::app::{
    ssr::{AppState, Loaded},
    types::ApiError,
};

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/image/{id}", get(original))
        .route("/view/{id}", get(rendition))
        .route("/motion/{id}", get(motion))
        .route("/thumb/{id}", get(thumbnail))
        .with_state(state)
}

async fn original(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Response {
    serve(&state, &id, request, None).await
}

/// A JPEG of the photo for the page, for formats browsers cannot show (HEIC, JPEG XL, TIFF):
/// made from the checked original within the decode budget, kept by browsers by its ETag.
async fn rendition(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Response {
    serve_made(&state, &id, request, Made { etag: "v", mime: "image/jpeg", what: "rendition", make: Searcher::rendition }).await
}

/// The MP4 clip inside a Samsung or Google motion photo, cut from the checked original, for the
/// viewer's player (a Live Photo's clip is a file of its own, served by `/image/ID`).
async fn motion(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Response {
    serve_made(&state, &id, request, Made { etag: "m", mime: "video/mp4", what: "motion clip", make: Searcher::motion_clip }).await
}

/// Bytes made from an image's checked original, and how they are served.
struct Made {
    /// The ETag's prefix: the bytes are named by it and the content hash.
    etag: &'static str,
    mime: &'static str,
    /// What is made, for the log.
    what: &'static str,
    make: fn(&Searcher, i64, &Roots) -> clipfind_engine::Result<(ImageRow, Vec<u8>)>,
}

async fn serve_made(state: &AppState, id: &str, request: Request, made: Made) -> Response {
    let state = &state.current();
    let (id, searcher) = match loaded(state, id) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let roots = state.roots().clone();
    let (row, bytes) = match tokio::task::spawn_blocking(move || (made.make)(&searcher, id, &roots)).await {
        Ok(Ok(made)) => made,
        Ok(Err(e)) => {
            tracing::info!("no {} of image #{id}: {}", made.what, e.chain());
            return error(StatusCode::NOT_FOUND, &format!("The image file is gone, changed since it was indexed, or has no {}.", made.what));
        }
        Err(e) => {
            tracing::error!("making the {} of image #{id} stopped: {e}", made.what);
            return error(StatusCode::INTERNAL_SERVER_ERROR, "The image file cannot be read.");
        }
    };
    let etag = HeaderValue::from_str(&format!("\"{}{}\"", made.etag, row.hash)).expect("hex is a valid header");
    let cached = request.headers().get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let response = match cached {
        true => StatusCode::NOT_MODIFIED.into_response(),
        false => ([(header::CONTENT_TYPE, HeaderValue::from_static(made.mime))], bytes).into_response(),
    };
    with_cache_headers(response, etag)
}

/// `?t=MS`: a video's frame at that moment (as search results name it).
#[derive(serde::Deserialize)]
struct Moment {
    t: Option<String>,
}

async fn thumbnail(State(state): State<AppState>, Path(id): Path<String>, Query(moment): Query<Moment>, request: Request) -> Response {
    let ms = match moment.t.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(ms)) if ms >= 0 => Some(ms),
        Some(_) => return error(StatusCode::BAD_REQUEST, "t is a moment in milliseconds (a whole number, 0 or more)."),
    };
    serve(&state, &id, request, Some(ms)).await
}

/// `{"error": ..., "status": N}` with status N, as the JSON API answers.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(ApiError { error: message.into(), status: status.as_u16() })).into_response()
}

/// The id a path names and the loaded index's searcher; the answer to give otherwise.
fn loaded(state: &Loaded, id: &str) -> Result<(i64, Arc<Searcher>), Response> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(error(StatusCode::BAD_REQUEST, "Image ids are numbers."));
    };
    let searcher = state.searcher().cloned().ok_or_else(|| error(StatusCode::NOT_FOUND, "No index is loaded."))?;
    Ok((id, searcher))
}

/// The original (`thumb` None), or the thumbnail (of the frame at `Some(Some(ms))` for a video).
async fn serve(state: &AppState, id: &str, request: Request, thumb: Option<Option<i64>>) -> Response {
    let state = &state.current();
    let (id, searcher) = match loaded(state, id) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let row = match searcher.image(id) {
        Ok(Some(row)) => row,
        Ok(None) => return error(StatusCode::NOT_FOUND, &format!("There is no image #{id} in the index.")),
        Err(e) => {
            tracing::error!("reading image #{id} from the index: {}", e.chain());
            return error(StatusCode::SERVICE_UNAVAILABLE, "The index cannot be read; the server's log says why.");
        }
    };
    let Some(ms) = thumb else {
        return serve_original(&searcher, state, id, request, "o").await;
    };
    match open_thumbnail(&searcher, id, ms, state).await {
        Ok((file, kind)) => {
            // Held open until the response has its own handle on the same file.
            let path = clipfind_engine::support::index_folder::fd_path(&file);
            let served = serve_file(&path, &kind, &row.hash, request, std::path::Path::new("thumbnail.jpg")).await;
            drop(file);
            served
        }
        Err(_) if row.video.is_some() => error(StatusCode::NOT_FOUND, "No thumbnail can be made for this video (is ffmpeg installed?)."),
        Err(_) => {
            // Said, not hidden: this "thumbnail" is the original.
            let mut served = serve_original(&searcher, state, id, request, "f").await;
            if served.status().is_success() {
                served.headers_mut().insert("x-clipfind-thumbnail", HeaderValue::from_static("original"));
            }
            served
        }
    }
}

/// The original file of `id`, only while it is still the indexed content inside the library:
/// served from the file opened and checked, never by its name again.
async fn serve_original(searcher: &Arc<Searcher>, state: &Loaded, id: i64, request: Request, kind: &str) -> Response {
    let (searcher, roots) = (searcher.clone(), state.roots().clone());
    let (row, original) = match tokio::task::spawn_blocking(move || searcher.original(id, &roots)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::info!("not serving image #{id}: {}", e.chain());
            return error(StatusCode::NOT_FOUND, "The image file is gone or changed since it was indexed (re-run clipfind index).");
        }
        Err(e) => {
            tracing::error!("opening image #{id} stopped: {e}");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "The image file cannot be read.");
        }
    };
    // Held open until the response has its own handle on the same file.
    let served = serve_file(&original.fd_path(), kind, &row.hash, request, std::path::Path::new(&row.path)).await;
    drop(original);
    served
}

/// The thumbnail, open (made now if missing), and its ETag kind. Made only from the checked
/// original.
async fn open_thumbnail(searcher: &Arc<Searcher>, id: i64, ms: Option<i64>, state: &Loaded) -> Result<(std::fs::File, String), ()> {
    let (searcher, roots) = (searcher.clone(), state.roots().clone());
    match tokio::task::spawn_blocking(move || searcher.thumbnail_at(id, ms, &roots)).await {
        Ok(Ok((thumbnail, at))) => Ok((thumbnail, at.map_or("t".to_string(), |ms| format!("t{ms}-")))),
        Ok(Err(e)) => {
            tracing::warn!("no thumbnail for image #{id}: {}", e.chain());
            Err(())
        }
        Err(e) => {
            tracing::error!("making the thumbnail of image #{id} stopped: {e}");
            Err(())
        }
    }
}

/// Serves `file` (Range, conditional requests) with an ETag of `kind`, `hash` and its size and
/// time; its content type from `named` (an open file's `/proc/self/fd` path has no extension).
async fn serve_file(file: &std::path::Path, kind: &str, hash: &str, request: Request, named: &std::path::Path) -> Response {
    let Ok(meta) = tokio::fs::metadata(file).await else {
        return error(StatusCode::NOT_FOUND, "The image file is gone (re-run clipfind index).");
    };
    let etag = served_etag(kind, hash, &meta);
    if request.headers().get(header::IF_NONE_MATCH).is_some_and(|v| v == etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mime = mime_guess::from_path(named).first_or_octet_stream();
    let served = match ServeFile::new_with_mime(file, &mime).try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", file.display());
            return error(StatusCode::INTERNAL_SERVER_ERROR, "The image file cannot be read.");
        }
    };
    if served.status() == StatusCode::NOT_FOUND {
        return error(StatusCode::NOT_FOUND, "The image file is gone (re-run clipfind index).");
    }
    with_cache_headers(served, etag)
}

/// `"<kind><content hash>-<size>-<mtime>"`: changes whenever the served bytes can have changed.
fn served_etag(kind: &str, hash: &str, meta: &std::fs::Metadata) -> HeaderValue {
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    HeaderValue::from_str(&format!("\"{kind}{hash}-{:x}-{mtime:x}\"", meta.len())).expect("hex is a valid header")
}

fn with_cache_headers(mut response: Response, etag: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
