//! Original images and thumbnails, served by id: a client never names a path, so no traversal.
//! The files themselves go out through tower-http's `ServeFile` (Range requests, Last-Modified
//! and If-Modified-Since, content types); the ETag comes from the catalog's content hash.

use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use tower_http::services::ServeFile;

use crate::app::{ssr::AppState, types::ApiError};

pub fn routes(state: AppState) -> Router {
    Router::new().route("/image/{id}", get(original)).route("/thumb/{id}", get(thumbnail)).with_state(state)
}

async fn original(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Response {
    serve(&state, &id, request, false).await
}

async fn thumbnail(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Response {
    serve(&state, &id, request, true).await
}

/// `{"error": ..., "status": N}` with status N, as the JSON API answers.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(ApiError { error: message.into(), status: status.as_u16() })).into_response()
}

async fn serve(state: &AppState, id: &str, request: Request, thumb: bool) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, "Image ids are numbers.");
    };
    let Some(searcher) = state.searcher() else {
        return error(StatusCode::NOT_FOUND, "No index is loaded.");
    };
    let Some(hash) = searcher.image_hash(id) else {
        return error(StatusCode::NOT_FOUND, &format!("There is no image #{id} in the index."));
    };
    // Content addressed: the same id and hash always mean the same bytes.
    let etag = HeaderValue::from_str(&format!("\"{}{hash}\"", if thumb { "t" } else { "o" })).expect("hex is a valid header");
    if request.headers().get(header::IF_NONE_MATCH).is_some_and(|v| v == etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let file = thumb.then(|| searcher.thumbnail_file(id)).flatten().or_else(|| searcher.image_file(id, state.data_root()));
    let Some(file) = file else {
        return error(StatusCode::NOT_FOUND, &format!("There is no image #{id} in the index."));
    };
    let served = match ServeFile::new(&file).try_call(request).await {
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

fn with_cache_headers(mut response: Response, etag: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
