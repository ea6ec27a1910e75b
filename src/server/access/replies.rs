//! The refusals: a sign-in redirect or a 401 with a Basic challenge, 429 after too many wrong
//! passwords, each as the JSON error the API answers.

use axum::{
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};

use crate::app::types::ApiError;

/// A browser opening a page is sent to the sign-in page (and back afterwards); anything else
/// gets 401.
pub(super) fn ask_to_sign_in(request: &Request) -> Response {
    let path = request.uri().path();
    let wants_page = request.method() == Method::GET
        && !["/api/", "/image/", "/thumb/", "/view/", "/motion/"].iter().any(|p| path.starts_with(p))
        && request.headers().get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_page {
        let back = request.uri().path_and_query().map_or("/", |p| p.as_str());
        return Redirect::to(&format!("/login?next={}", crate::app::types::encode_component(back))).into_response();
    }
    challenge(StatusCode::UNAUTHORIZED, "Sign in first: a session cookie from /login, -u clipfind:PASSWORD, or a token (Authorization: Bearer).", request)
}

/// A 401 that tells scripts they may use Basic; browsers' own fetches get no challenge (which
/// would pop up the browser's password dialog over the page's sign-in form).
pub(super) fn challenge(status: StatusCode, message: &str, request: &Request) -> Response {
    let mut response = refusal(status, message);
    if request.headers().get("sec-fetch-mode").is_none() {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"clipfind\", charset=\"UTF-8\""));
    }
    response
}

pub(super) fn too_many(wait: u64) -> Response {
    let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, &format!("Too many wrong passwords from this address: try again in {wait} s."));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// `{"error": ..., "status": N}` with status N, as the JSON API answers.
pub(super) fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(ApiError { error: message.into(), status: status.as_u16() })).into_response()
}
