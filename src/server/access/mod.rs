//! Who may see the library. Without a password the server answers only on loopback (it refuses
//! to start on another address); with one, every route but the sign-in page and the page's own
//! code needs one of: the session cookie the sign-in page sets, HTTP Basic with the password
//! (`-u clipfind:PASSWORD`), or a bearer token from `clipfind token create`. In both cases only
//! requests naming this server are answered (DNS rebinding), and state-changing requests must
//! come from its own pages.

mod attempts;
mod hosts;
mod login;
mod password;
pub mod sessions;
pub mod tokens;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
};

use anyhow::bail;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    Json, Router,
};
use base64::Engine as _;

use crate::app::{ssr::Principal, types::ApiError};
use attempts::Attempts;
pub use hosts::Hosts;
pub use password::Password;
use sessions::Sessions;
use tokens::Tokens;

/// How the server decides who may see the library.
pub struct Access {
    password: Option<Password>,
    hosts: Hosts,
    sessions: Sessions,
    tokens: Option<Tokens>,
    attempts: Attempts,
}

/// What the owner configured (`--password-file`, `CLIPFIND_PASSWORD`, `--allow-host`).
#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    pub password_file: Option<PathBuf>,
    pub allowed_hosts: Vec<String>,
    /// The index folder, where tokens are kept.
    pub index_dir: Option<PathBuf>,
}

impl Access {
    /// The access rules for a server listening on `addr`; refuses a non-loopback address
    /// without a password.
    pub fn configure(config: &AccessConfig, addr: SocketAddr) -> anyhow::Result<Access> {
        let password = Password::configured(config.password_file.as_deref())?;
        if password.is_none() && !addr.ip().is_loopback() {
            bail!(
                "refusing to listen on {addr} without a password: everyone who can reach that address would see the whole \
                 library. Set CLIPFIND_PASSWORD or --password-file FILE, or listen on 127.0.0.1"
            );
        }
        Ok(Access {
            password,
            hosts: Hosts::new(&config.allowed_hosts),
            sessions: Sessions::default(),
            tokens: config.index_dir.as_deref().map(Tokens::of_index),
            attempts: Attempts::default(),
        })
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The sign-in routes (`POST /api/login`, `POST /api/logout`).
    pub fn routes(access: Arc<Access>) -> Router {
        login::routes(access)
    }

    /// Checks credentials (a password or token is verified off the async threads).
    async fn authenticate(self: &Arc<Self>, headers: &HeaderMap, method: &Method, path: &str, client: IpAddr) -> Result<Principal, Refusal> {
        if session_of(headers).is_some_and(|id| self.sessions.is_valid(id)) {
            return Ok(Principal::Session);
        }
        let Some(authorization) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(Refusal::Missing);
        };
        if let Some(wait) = self.attempts.wait(client) {
            return Err(Refusal::TooMany(wait.as_secs().max(1)));
        }
        let credential = Credential::parse(authorization).ok_or(Refusal::Wrong)?;
        let access = self.clone();
        let proved = tokio::task::spawn_blocking(move || access.prove(credential)).await.unwrap_or(None);
        match proved {
            Some(principal) => {
                self.attempts.succeeded(client);
                match principal {
                    Principal::Token(_) if !read_only(method, path) => Err(Refusal::Scope),
                    principal => Ok(principal),
                }
            }
            None => {
                self.attempts.failed(client);
                Err(Refusal::Wrong)
            }
        }
    }

    fn prove(&self, credential: Credential) -> Option<Principal> {
        match credential {
            Credential::Password(p) => self.password.as_ref().is_some_and(|password| password.verify(&p)).then_some(Principal::Password),
            Credential::Token(t) => self.tokens.as_ref()?.verify(&t).map(|record| Principal::Token(record.id)),
        }
    }
}

/// A password or a token, as an `Authorization` header carries it.
enum Credential {
    Password(String),
    Token(String),
}

impl Credential {
    fn parse(authorization: &str) -> Option<Credential> {
        let (scheme, value) = authorization.trim().split_once(' ')?;
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
                let (_user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
                Some(Credential::Password(password.to_string()))
            }
            "bearer" => Some(Credential::Token(value.trim().to_string())),
            _ => None,
        }
    }
}

/// Why a request is not answered.
enum Refusal {
    Missing,
    Wrong,
    TooMany(u64),
    Scope,
}

/// Middleware: only requests naming this server, and state changes only from its own pages.
pub async fn named_hosts(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    match access.hosts.check(&request) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused,
    }
}

/// Middleware: with a password, every route but the sign-in page and the page's code needs
/// credentials.
pub async fn signed_in(State(access): State<Arc<Access>>, mut request: Request, next: Next) -> Response {
    if !access.has_password() {
        request.extensions_mut().insert(Principal::Local);
        return next.run(request).await;
    }
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let (method, path, client) = (request.method().clone(), request.uri().path().to_string(), client_of(&request));
    match access.authenticate(request.headers(), &method, &path, client).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(Refusal::Missing) => ask_to_sign_in(&request),
        Err(Refusal::Wrong) => challenge(StatusCode::UNAUTHORIZED, "The password or token is not right.", &request),
        Err(Refusal::TooMany(wait)) => too_many(wait),
        Err(Refusal::Scope) => refusal(StatusCode::FORBIDDEN, "This token may only read the library."),
    }
}

/// Routes anyone may load: the sign-in page, and the app's code and style it needs (no data).
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/api/login" | "/favicon.ico") || path.starts_with("/pkg/")
}

/// What a read-only token may do: look (GET, HEAD), and search by an uploaded image.
fn read_only(method: &Method, path: &str) -> bool {
    [Method::GET, Method::HEAD].contains(method) || (method == Method::POST && path == "/api/search_image")
}

/// A browser opening a page is sent to the sign-in page (and back afterwards); anything else
/// gets 401.
fn ask_to_sign_in(request: &Request) -> Response {
    let path = request.uri().path();
    let wants_page = request.method() == Method::GET
        && !["/api/", "/image/", "/thumb/"].iter().any(|p| path.starts_with(p))
        && request.headers().get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_page {
        let back = request.uri().path_and_query().map_or("/", |p| p.as_str());
        return Redirect::to(&format!("/login?next={}", crate::app::types::encode_component(back))).into_response();
    }
    challenge(StatusCode::UNAUTHORIZED, "Sign in first: a session cookie from /login, -u clipfind:PASSWORD, or a token (Authorization: Bearer).", request)
}

/// A 401 that tells scripts they may use Basic; browsers' own fetches get no challenge (which
/// would pop up the browser's password dialog over the page's sign-in form).
fn challenge(status: StatusCode, message: &str, request: &Request) -> Response {
    let mut response = refusal(status, message);
    if request.headers().get("sec-fetch-mode").is_none() {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"clipfind\", charset=\"UTF-8\""));
    }
    response
}

fn too_many(wait: u64) -> Response {
    let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, &format!("Too many wrong passwords from this address: try again in {wait} s."));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// `{"error": ..., "status": N}` with status N, as the JSON API answers.
fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(ApiError { error: message.into(), status: status.as_u16() })).into_response()
}

fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(sessions::from_cookie_header)
}

/// The client's address (the connection's peer; the server puts it on every request).
fn client_of(request: &Request) -> IpAddr {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Random bytes from the operating system.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system has no random numbers");
    bytes
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_basic_and_bearer_headers() {
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("clipfind:pass:word"));
        assert!(matches!(Credential::parse(&basic), Some(Credential::Password(p)) if p == "pass:word"));
        assert!(matches!(Credential::parse("Bearer cft_1_x"), Some(Credential::Token(t)) if t == "cft_1_x"));
        assert!(Credential::parse("Digest abc").is_none());
        assert!(Credential::parse("Basic !!!").is_none());
    }

    #[test]
    fn only_the_sign_in_page_and_the_app_code_are_public() {
        for public in ["/login", "/api/login", "/pkg/clipfind.wasm", "/favicon.ico"] {
            assert!(is_public(public), "{public}");
        }
        for private in ["/", "/duplicates", "/api/search", "/api/logout", "/image/1", "/thumb/1", "/api/live", "/login/x", "/pkgx"] {
            assert!(!is_public(private), "{private}");
        }
    }

    #[test]
    fn a_non_loopback_address_needs_a_password() {
        std::env::remove_var(password::PASSWORD_VAR);
        let error = Access::configure(&AccessConfig::default(), "0.0.0.0:3000".parse().unwrap()).err().expect("refused");
        assert!(error.to_string().contains("CLIPFIND_PASSWORD"), "{error}");
        assert!(Access::configure(&AccessConfig::default(), "127.0.0.1:3000".parse().unwrap()).is_ok());
        assert!(Access::configure(&AccessConfig::default(), "[::1]:3000".parse().unwrap()).is_ok());
    }
}
