//! The web server: axum hosting the Leptos app, its server functions and the image routes.

pub mod access;
mod connections;
mod guard;
mod headers;
mod images;
mod live;
mod watch;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{http::StatusCode, Router};
use clipfind_engine::library::LibraryConfig;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
};

use crate::app::{shell, ssr::AppState, App};
use access::{Access, AccessConfig};

/// Serves the app until Ctrl-C. Address and site root come from Leptos' own configuration
/// (`LEPTOS_SITE_ADDR`, `LEPTOS_SITE_ROOT`, or the values cargo-leptos passes).
pub fn run(library: LibraryConfig, watch: bool, access: AccessConfig) -> anyhow::Result<()> {
    let conf = get_configuration(None).context("invalid Leptos configuration")?;
    // Before any other thread starts: the password is read from the environment and removed.
    let access = Arc::new(Access::configure(&AccessConfig { index_dir: library.index_dir(), ..access }, conf.leptos_options.site_addr)?);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(library, watch, conf.leptos_options, access))
}

async fn serve(library: LibraryConfig, watch: bool, leptos_options: LeptosOptions, access: Arc<Access>) -> anyhow::Result<()> {
    if watch {
        watch::start(&library)?;
    }
    let addr = leptos_options.site_addr;
    if access.has_password() {
        tracing::info!("a password is required: sign in at /login, or use -u clipfind:PASSWORD or a token");
    }
    let state = tokio::task::spawn_blocking(move || AppState::load(&library)).await.context("loading the index")?;
    state.log_startup();
    state.follow_index();

    let routes = generate_route_list(App);
    let app = Router::new()
        .leptos_routes_with_context(
            &leptos_options,
            routes,
            {
                let state = state.clone();
                move || {
                    provide_context(state.clone());
                    leptos::nonce::provide_nonce();
                }
            },
            {
                let leptos_options = leptos_options.clone();
                move || shell(leptos_options.clone())
            },
        )
        // The fallback renders the app too (a not-found page): it gets the same state.
        .fallback(leptos_axum::file_and_error_handler_with_context(
            {
                let state = state.clone();
                move || {
                    provide_context(state.clone());
                    leptos::nonce::provide_nonce();
                }
            },
            shell,
        ))
        .with_state(leptos_options)
        .merge(images::routes(state.clone()))
        .merge(live::routes(state))
        .merge(access::routes(access.clone()))
        .layer(axum::middleware::from_fn(guard::api_requests))
        // A request gets a minute in all (a search takes milliseconds; a 20 MB upload over a
        // slow 3 Mbit/s link about 55 s), and its body may stall for at most 30 s.
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(30)))
        // No request is larger than an upload may be (every other one is a few hundred bytes).
        .layer(RequestBodyLimitLayer::new(crate::app::types::MAX_UPLOAD_BODY))
        // Credentials are checked before any route runs, and the name the request was sent to
        // before that; every answer, refusals included, gets the security headers.
        .layer(axum::middleware::from_fn_with_state(access.clone(), access::signed_in))
        .layer(axum::middleware::from_fn_with_state(access, access::named_hosts))
        .layer(axum::middleware::from_fn(headers::secured))
        .layer(CatchPanicLayer::custom(guard::panic_response));

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("listening on http://{addr}");
    connections::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}
