//! Original images and thumbnails, served by id: a client never names a path, so no traversal.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use super::AppState;

pub fn routes(state: AppState) -> Router {
    Router::new().route("/image/{id}", get(original)).route("/thumb/{id}", get(thumbnail)).with_state(state)
}

async fn original(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    serve(&state, &id, &headers, false).await
}

async fn thumbnail(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    serve(&state, &id, &headers, true).await
}

async fn serve(state: &AppState, id: &str, headers: &HeaderMap, thumb: bool) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return (StatusCode::BAD_REQUEST, "image ids are numbers").into_response();
    };
    let Some(searcher) = state.searcher() else {
        return (StatusCode::NOT_FOUND, "no index is loaded").into_response();
    };
    let Some(hash) = searcher.image_hash(id) else {
        return (StatusCode::NOT_FOUND, "no image with this id").into_response();
    };
    // Content addressed: the same id and hash always mean the same bytes.
    let etag = format!("\"{}{hash}\"", if thumb { "t" } else { "o" });
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let file = match thumb.then(|| searcher.thumbnail_file(id)).flatten() {
        Some(t) => t,
        None => match searcher.image_file(id, state.data_root()) {
            Some(f) => f,
            None => return (StatusCode::NOT_FOUND, "no image with this id").into_response(),
        },
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
            if let Ok(v) = HeaderValue::from_str(&etag) {
                h.insert(header::ETAG, v);
            }
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", file.display());
            (StatusCode::NOT_FOUND, "the image file is gone (re-run clipfind index)").into_response()
        }
    }
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("bmp") => "image/bmp",
        Some("tif" | "tiff") => "image/tiff",
        _ => "application/octet-stream",
    }
}
