//! What is read off a request: the session cookie and the client's address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request},
    http::{header, HeaderMap},
};

use super::sessions;

pub(super) fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(sessions::from_cookie_header)
}

/// The client's address (the connection's peer; the server puts it on every request).
pub(super) fn client_of(request: &Request) -> IpAddr {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}
