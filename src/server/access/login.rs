//! `POST /api/login` (form fields `password`, `next`) and `POST /api/logout`. A browser's form
//! is answered with a redirect (to `next`, or back to the sign-in page saying why); other
//! clients get a status and the JSON API's body.

use std::sync::Arc;

use axum::{
    extract::{DefaultBodyLimit, FromRequest, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Form, Json, Router,
};

use super::{
    gate::Access,
    replies::too_many,
    request::{client_of, session_of},
    sessions,
};
use crate::app::types::encode_component;

/// A sign-in form is a few hundred bytes.
const MAX_FORM_BYTES: usize = 4096;

pub fn routes(access: Arc<Access>) -> Router {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(access)
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(State(access): State<Arc<Access>>, request: Request) -> Response {
    let client = client_of(&request);
    let (parts, body) = request.into_parts();
    let browser = wants_page(&parts.headers);
    let secure = over_https(&parts.headers);
    let Ok(Form(form)) = Form::<LoginForm>::from_request(Request::from_parts(parts, body), &()).await else {
        return answer(browser, StatusCode::BAD_REQUEST, "Send the password as a form field named password.", "/login");
    };
    let next = local_path(form.next.as_deref());
    let back = format!("/login?next={}", encode_component(next));
    if let Some(wait) = access.attempts.wait(client) {
        return match browser {
            true => Redirect::to(&format!("{back}&wait={}", wait.as_secs().max(1))).into_response(),
            false => too_many(wait.as_secs().max(1)),
        };
    }
    let checking = access.clone();
    let right = tokio::task::spawn_blocking(move || checking.password.as_ref().is_some_and(|p| p.verify(&form.password))).await.unwrap_or(false);
    if !right {
        access.attempts.failed(client);
        return answer(browser, StatusCode::UNAUTHORIZED, "The password is not right.", &format!("{back}&failed=1"));
    }
    access.attempts.succeeded(client);
    let id = access.sessions.start();
    let mut response = answer(browser, StatusCode::OK, "Signed in.", next);
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&sessions::cookie(&id, secure)).expect("base64 is a valid header"));
    response
}

async fn logout(State(access): State<Arc<Access>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_of(&headers) {
        access.sessions.end(id);
    }
    let mut response = answer(wants_page(&headers), StatusCode::OK, "Signed out.", "/login");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&sessions::removal()).expect("a valid header"));
    response
}

/// A redirect to `to` for a browser's form, else `status` with `message`.
fn answer(browser: bool, status: StatusCode, message: &str, to: &str) -> Response {
    match browser {
        true => Redirect::to(to).into_response(),
        false => (status, Json(serde_json::json!({ "message": message, "status": status.as_u16() }))).into_response(),
    }
}

fn wants_page(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// Behind a TLS-terminating proxy the cookie is marked Secure.
fn over_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// `next` when it is a path on this server, else `/` (never a redirect to another site).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains(['\\', '\r', '\n']) => path,
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_ever_a_local_path() {
        assert_eq!(local_path(Some("/?q=dog")), "/?q=dog");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
