//! Headers every answer carries: the library is private (never kept by shared caches), the page
//! runs only its own code (a content security policy), is never framed by another site, never
//! sends its URLs (queries) elsewhere as a referrer, and its photos are never embedded by other
//! sites' pages.

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

/// For answers that set no policy of their own (JSON, images, a page rendered without a nonce):
/// nothing may run.
const STRICT_POLICY: &str = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Middleware for every answer.
pub async fn secured(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(STRICT_POLICY));
    }
    // Never "public": a shared cache must not keep anyone's library. API answers are live.
    let cache = if api { "no-store" } else { "private, no-cache" };
    match headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        Some(set) if !set.contains("public") => {}
        _ => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        }
    }
    response
}
