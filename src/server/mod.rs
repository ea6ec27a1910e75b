//! The web server: axum hosting the Leptos app, its server functions and the image routes.

pub mod access;
mod connections;
mod guard;
mod headers;
mod images;
mod live;
mod watch;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use clipfind_engine::library::LibraryConfig;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    timeout::RequestBodyTimeoutLayer,
};

use crate::app::{shell, ssr::AppState, App};
use access::{Access, AccessConfig};
pub use connections::Timeouts;

/// Serves the app until Ctrl-C. Address and site root come from Leptos' own configuration
/// (`LEPTOS_SITE_ADDR`, `LEPTOS_SITE_ROOT`, or the values cargo-leptos passes).
pub fn run(library: LibraryConfig, watch: bool, access: AccessConfig, timeouts: Timeouts) -> anyhow::Result<()> {
    let conf = get_configuration(None).context("invalid Leptos configuration")?;
    // Before any other thread starts: the password is read from the environment and removed.
    let access = Arc::new(Access::configure(&AccessConfig { index_dir: library.index_dir(), ..access }, conf.leptos_options.site_addr)?);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(library, watch, conf.leptos_options, access, timeouts))
}

async fn serve(library: LibraryConfig, watch: bool, leptos_options: LeptosOptions, access: Arc<Access>, timeouts: Timeouts) -> anyhow::Result<()> {
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
        .merge(access::routes(access.clone()));
    let app = guarded(app, access, &timeouts);

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("listening on http://{addr}");
    connections::serve(listener, app, timeouts.header, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// The layers every route runs inside, from the outside in: every answer (a panic's too) gets
/// the security headers; a panic still answers, 500 with the JSON error; the Host is checked,
/// then the credentials, before any route runs; no body is larger than an upload may be or
/// stalls longer than `body`, and no request takes longer than `request` (408); and the JSON
/// API's edge answers what its codecs cannot read.
fn guarded(routes: Router, access: Arc<Access>, timeouts: &Timeouts) -> Router {
    routes
        .layer(axum::middleware::from_fn(guard::api_requests))
        .layer(axum::middleware::from_fn_with_state(timeouts.request, guard::within_time))
        .layer(RequestBodyTimeoutLayer::new(timeouts.body))
        .layer(RequestBodyLimitLayer::new(crate::app::types::MAX_UPLOAD_BODY))
        .layer(axum::middleware::from_fn_with_state(access.clone(), access::signed_in))
        .layer(axum::middleware::from_fn_with_state(access, access::named_hosts))
        .layer(CatchPanicLayer::custom(guard::panic_response))
        .layer(axum::middleware::from_fn(headers::secured))
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        http::{header, Request, StatusCode},
        routing::get,
    };
    use std::time::Duration;

    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_route_answers_500_with_the_json_error_and_the_security_headers() {
        let access = Access::configure(&AccessConfig::default(), "127.0.0.1:3000".parse().unwrap()).unwrap();
        let timeouts = Timeouts { header: Duration::from_secs(5), body: Duration::from_secs(30), request: Duration::from_secs(60) };
        let routes = Router::new().route("/api/boom", get(|| async { panic!("secret detail /home/me/photos") as &'static str }));
        let app = guarded(routes, Arc::new(access), &timeouts);
        let request = Request::get("/api/boom").header(header::HOST, "127.0.0.1:3000").body(Body::empty()).unwrap();
        let answer = app.oneshot(request).await.unwrap();
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(answer.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], 500);
        assert!(json["error"].as_str().unwrap().contains("it is logged"), "{json}");
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "the panic's message stays in the log");
    }
}
