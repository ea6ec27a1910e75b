//! The edge of the JSON API: requests its server functions cannot read are answered here with
//! the API's JSON error, before a codec could panic or answer 500; `HEAD` answers as `GET` does;
//! a request past its time answers 408; and a panic anywhere still answers (500, JSON) instead
//! of dropping the connection.

use std::{
    any::Any,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};

use crate::app::types::ApiError;

/// Middleware for every request.
pub async fn api_requests(mut request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    // hyper remembers the request was HEAD and sends the GET answer's head without its body.
    if request.method() == Method::HEAD {
        *request.method_mut() = Method::GET;
    }
    if request.uri().path() == "/api/search_image" && request.method() == Method::POST {
        if let Err(refusal) = multipart_with_boundary(request.headers()) {
            return refusal;
        }
    }
    next.run(request).await
}

/// The upload must be `multipart/form-data` with a boundary (the multipart codec panics without one).
fn multipart_with_boundary(headers: &HeaderMap) -> Result<(), Response> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut parts = content_type.split(';').map(str::trim);
    if !parts.next().unwrap_or_default().eq_ignore_ascii_case("multipart/form-data") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the image as multipart/form-data, in a field named `image`.",
        ));
    }
    let has_boundary = parts.any(|p| {
        p.split_once('=').is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("boundary") && !v.trim().trim_matches('"').is_empty())
    });
    if !has_boundary {
        return Err(error(StatusCode::BAD_REQUEST, "The multipart/form-data content type names no boundary."));
    }
    Ok(())
}

/// Middleware for every request: 408 once it has taken `limit` in all, or when its body
/// stalled past the body timeout (`RequestBodyTimeoutLayer`, outside this one), whatever the
/// handler made of the failed read (a multipart parser answers 400, a codec 500).
pub async fn within_time(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let seen = stalled.clone();
    let request = request.map(|body| {
        Body::new(http_body_util::BodyExt::map_err(body, move |e| {
            if is_body_timeout(&e) {
                seen.store(true, Ordering::Relaxed);
            }
            e
        }))
    });
    let answer = tokio::time::timeout(limit, next.run(request)).await;
    match answer {
        _ if stalled.load(Ordering::Relaxed) => error(StatusCode::REQUEST_TIMEOUT, "The request's body stopped arriving; send it again."),
        Ok(response) => response,
        Err(_) => error(StatusCode::REQUEST_TIMEOUT, "The request took too long; send it again."),
    }
}

/// Whether a body error is (caused by) tower-http's body timeout.
fn is_body_timeout(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// What a panic answers (tower-http's `CatchPanicLayer`): logged once, 500 with a message.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!("a request panicked: {message}");
    error(StatusCode::INTERNAL_SERVER_ERROR, "The server failed on this request; it is logged.")
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(ApiError { error: message.into(), status: status.as_u16() })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        h
    }

    #[test]
    fn uploads_need_multipart_with_a_boundary() {
        assert!(multipart_with_boundary(&with("multipart/form-data; boundary=----x")).is_ok());
        assert!(multipart_with_boundary(&with("Multipart/Form-Data;boundary=\"a b\"")).is_ok());
        let status = |h: HeaderMap| multipart_with_boundary(&h).unwrap_err().status();
        assert_eq!(status(with("multipart/form-data")), StatusCode::BAD_REQUEST);
        assert_eq!(status(with("multipart/form-data; boundary=")), StatusCode::BAD_REQUEST);
        assert_eq!(status(with("text/plain")), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(status(HeaderMap::new()), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
