//! `GET /api/live`: server-sent events that tell the page when the index changed (its results
//! are out of date) and how the indexer is getting on. One event on connecting, then one per
//! change; the server reads the indexer's progress twice a second, so a page is never told
//! more often than that, and never polls.
//!
//! Streams are capped apart from connections (open pages must not take every connection slot)
//! and end after [`MAX_AGE`]; the browser's `EventSource` reconnects by itself.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::get,
    Json, Router,
};
use futures::StreamExt;
use tokio::sync::Semaphore;

use crate::app::{ssr::AppState, types::ApiError};

/// Live streams open at once (a page holds one); more are told to retry later.
pub const MAX_STREAMS: usize = 64;
/// How long one stream lasts before the browser reconnects.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 60);

pub fn routes(state: AppState) -> Router {
    let slots = Arc::new(Semaphore::new(MAX_STREAMS));
    Router::new().route("/api/live", get(live)).with_state((state, slots))
}

async fn live(State((state, slots)): State<(AppState, Arc<Semaphore>)>) -> Response {
    let Ok(slot) = slots.try_acquire_owned() else {
        let refusal = ApiError { error: format!("{MAX_STREAMS} live pages are open already; try again soon."), status: 503 };
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(refusal)).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return response;
    };
    let updates = state.subscribe_live();
    let events = futures::stream::unfold((updates, true, slot), |(mut updates, first, slot)| async move {
        if !first && updates.changed().await.is_err() {
            return None;
        }
        let event = Event::default().json_data(&*updates.borrow_and_update()).unwrap_or_else(|_| Event::default().comment("unserialisable"));
        Some((Ok::<_, Infallible>(event), (updates, false, slot)))
    });
    let events = events.take_until(tokio::time::sleep(MAX_AGE));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}
