//! `GET /api/live`: server-sent events that tell the page when the index changed (its results
//! are out of date) and how the indexer is getting on. One event on connecting, then one per
//! change; the server reads the indexer's progress twice a second, so a page is never told
//! more often than that, and never polls.

use std::convert::Infallible;

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
    routing::get,
    Router,
};
use futures::Stream;

use crate::app::ssr::AppState;

pub fn routes(state: AppState) -> Router {
    Router::new().route("/api/live", get(live)).with_state(state)
}

async fn live(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = state.subscribe_live();
    let events = futures::stream::unfold((updates, true), |(mut updates, first)| async move {
        if !first && updates.changed().await.is_err() {
            return None;
        }
        let event = Event::default().json_data(&*updates.borrow_and_update()).unwrap_or_else(|_| Event::default().comment("unserialisable"));
        Some((Ok(event), (updates, false)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
