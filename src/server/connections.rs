//! Connection hygiene: how many connections are served at once and how long a client may take.
//! axum's own `serve` has neither a connection cap nor a header timeout, so idle or slow clients
//! could hold sockets until the process runs out of file descriptors and every search fails.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{extract::ConnectInfo, Router};
use tower::ServiceExt;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};

/// Connections served at once: three quarters of the common 1,024 open-file limit, leaving room
/// for the index's files, logs and thumbnails. More wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 768;
/// How long a client may take (`clipfind serve --header-timeout`, `--body-timeout`,
/// `--request-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a request's head, and for a new connection's first byte: past it the connection is
    /// closed.
    pub header: Duration,
    /// For each piece of a body after the one before: past it the request answers 408.
    pub body: Duration,
    /// For a whole request: past it the request answers 408.
    pub request: Duration,
}

/// Accepts and serves connections with `app` until `shutdown` completes; a request head must
/// arrive within `header_timeout` (a real client sends it at once; a slowloris client dribbles
/// it), which is also how long a connection may sit idle before its first byte.
pub async fn serve(listener: TcpListener, app: Router, header_timeout: Duration, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = slots.clone().acquire_owned().await.expect("the connection semaphore is never closed");
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a reset before accept: pause instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        // Every request knows its client (sign-in attempts are counted per address).
        let app = app.clone().map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        tokio::spawn(async move {
            let _slot = slot;
            // A connection that sends nothing is closed, so idle sockets cannot pile up.
            if tokio::time::timeout(header_timeout, stream.peek(&mut [0u8; 1])).await.is_err() {
                return;
            }
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .with_upgrades()
                .await;
            if let Err(e) = served {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}
