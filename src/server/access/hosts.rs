//! Which names the server answers to, and which pages may change anything.
//!
//! A web page can rebind its own name to 127.0.0.1 (DNS rebinding): the browser then sends the
//! page's requests to this server with the page's name in `Host`. So only requests naming the
//! server by an address, `localhost`, this machine's name or a name the owner configured are
//! answered (421 otherwise); and a request that can change state (anything but GET and HEAD)
//! must come from the server's own pages (its `Origin` is the `Host`) or from a client that sends
//! no `Origin` at all (curl, scripts).

use std::net::IpAddr;

use axum::{
    extract::Request,
    http::{header, HeaderMap, Method, StatusCode},
    response::Response,
};

use super::replies::refusal;

/// The host names requests may name besides addresses and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    /// `configured` (lower-cased, without ports) plus this machine's own name and its mDNS
    /// `.local` name, which a page elsewhere cannot make a browser send.
    pub fn new(configured: &[String]) -> Hosts {
        let mut names: Vec<String> = configured.iter().map(|n| normalised(n)).filter(|n| !n.is_empty()).collect();
        if let Some(own) = machine_name() {
            names.push(format!("{own}.local"));
            names.push(own);
        }
        Hosts { names }
    }

    /// Refuses a request whose `Host` (or absolute URI) names another site, or a state-changing
    /// request from another site's page.
    pub fn check(&self, request: &Request) -> Result<(), Response> {
        let named = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        let Some(host) = named.or_else(|| request.uri().authority().map(|a| a.as_str())) else {
            return Err(refusal(StatusCode::MISDIRECTED_REQUEST, "Name this server in a Host header."));
        };
        let absolute = request.uri().authority().map(|a| a.as_str());
        if !self.allows(host) || absolute.is_some_and(|a| !self.allows(a)) {
            return Err(refusal(
                StatusCode::MISDIRECTED_REQUEST,
                "This server does not answer to that name (start it with --allow-host NAME to add one).",
            ));
        }
        if ![Method::GET, Method::HEAD, Method::OPTIONS].contains(request.method()) && !same_origin(request.headers(), host) {
            return Err(refusal(StatusCode::FORBIDDEN, "Requests from other sites' pages are refused."));
        }
        Ok(())
    }

    /// Whether `authority` (`name[:port]`) names this server.
    pub fn allows(&self, authority: &str) -> bool {
        let name = normalised(authority);
        name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") || self.names.contains(&name)
    }
}

/// `authority` without its port and trailing dot, lower case; an IPv6 address without brackets.
fn normalised(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    let name = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(address, _)| address),
        None => match authority.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => &authority,
        },
    };
    name.trim_end_matches('.').to_string()
}

/// Whether the request comes from a page of this server, or from no page at all.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    // A browser's own word (scripts cannot set Sec-Fetch-Site): it sends `Origin: null` for a
    // form posted from a page whose referrer policy withholds its origin.
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("null")) {
        Some("null") => fetch_site == Some("same-origin"),
        Some(origin) => origin.split_once("://").is_some_and(|(scheme, authority)| {
            ["http", "https"].contains(&scheme) && authority.eq_ignore_ascii_case(host)
        }),
        // Browsers send Origin on every cross-site POST; this covers one that did not.
        None => fetch_site != Some("cross-site"),
    }
}

fn machine_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length; gethostname NUL-terminates within it.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&buffer[..end]).ok()?.to_ascii_lowercase();
    (ok && !name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, host: &str, origin: Option<&str>) -> Request {
        let mut r = axum::http::Request::builder().method(method).uri("/api/search_image").header(header::HOST, host);
        if let Some(o) = origin {
            r = r.header(header::ORIGIN, o);
        }
        r.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn addresses_localhost_and_configured_names_are_answered_others_are_not() {
        let hosts = Hosts { names: vec!["photos.home.arpa".into()] };
        for ok in ["127.0.0.1:3000", "[::1]:3000", "192.168.1.20", "localhost:3000", "app.localhost", "Photos.Home.Arpa.:443"] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in ["rebind.attacker.example", "attacker.example:3000", "127.0.0.1.attacker.example", "localhost.attacker.example", ""] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn state_changing_requests_need_this_origin_or_none() {
        let hosts = Hosts::default();
        assert!(hosts.check(&request(Method::POST, "127.0.0.1:3000", Some("http://127.0.0.1:3000"))).is_ok());
        assert!(hosts.check(&request(Method::POST, "127.0.0.1:3000", None)).is_ok());
        let status = |r: Result<(), Response>| r.unwrap_err().status();
        assert_eq!(status(hosts.check(&request(Method::POST, "127.0.0.1:3000", Some("https://evil.example")))), StatusCode::FORBIDDEN);
        assert_eq!(status(hosts.check(&request(Method::POST, "127.0.0.1:3000", Some("null")))), StatusCode::FORBIDDEN);
        let mut own_form = request(Method::POST, "127.0.0.1:3000", Some("null"));
        own_form.headers_mut().insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(hosts.check(&own_form).is_ok(), "a form of this server's page, origin withheld");
        assert_eq!(status(hosts.check(&request(Method::GET, "evil.example", None))), StatusCode::MISDIRECTED_REQUEST);
        // Reading is not refused by Origin: a cross-site page cannot read the answer anyway.
        assert!(hosts.check(&request(Method::GET, "localhost", Some("https://evil.example"))).is_ok());
    }
}
