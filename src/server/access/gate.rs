//! The two middlewares every request passes: the Host and Origin check, then the credentials
//! (session cookie, Basic password or bearer token), with the rules for what is public and what a
//! read-only token may do.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
};

use anyhow::bail;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::Response,
};
use base64::Engine as _;

use super::{
    attempts::Attempts,
    hosts::Hosts,
    password::Password,
    replies::{ask_to_sign_in, challenge, refusal, too_many},
    request::{client_of, session_of},
    sessions::Sessions,
    tokens::Tokens,
};
use crate::app::ssr::Principal;

/// How the server decides who may see the library.
pub struct Access {
    pub(super) password: Option<Password>,
    pub(super) hosts: Hosts,
    pub(super) sessions: Sessions,
    pub(super) tokens: Option<Tokens>,
    pub(super) attempts: Attempts,
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
        for private in ["/", "/duplicates", "/api/search", "/api/logout", "/image/1", "/thumb/1", "/view/1", "/motion/1", "/api/live", "/login/x", "/pkgx"] {
            assert!(!is_public(private), "{private}");
        }
    }

    #[test]
    fn a_non_loopback_address_needs_a_password() {
        std::env::remove_var(super::super::password::PASSWORD_VAR);
        let error = Access::configure(&AccessConfig::default(), "0.0.0.0:3000".parse().unwrap()).err().expect("refused");
        assert!(error.to_string().contains("CLIPFIND_PASSWORD"), "{error}");
        assert!(Access::configure(&AccessConfig::default(), "127.0.0.1:3000".parse().unwrap()).is_ok());
        assert!(Access::configure(&AccessConfig::default(), "[::1]:3000".parse().unwrap()).is_ok());
    }
}
