//! The server side of the search server functions: run the engine off the async threads and
//! turn its answers into replies, and bad input into 4xx responses with a message.

use std::time::Instant;

use axum::http::StatusCode;
use leptos::prelude::*;

use super::AppState;
use crate::{
    app::types::{Hit, IndexStatus, SearchReply},
    engine::{
        searcher::{Hit as EngineHit, Searcher},
        EngineError,
    },
};

/// Sets the response status and returns the message as the server function's error.
pub fn reject(status: StatusCode, message: impl Into<String>) -> ServerFnError {
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(status);
    }
    ServerFnError::Args(message.into())
}

pub fn bad_request(message: impl Into<String>) -> ServerFnError {
    reject(StatusCode::BAD_REQUEST, message)
}

/// Runs `search` on a blocking thread (encoders and FAISS are CPU work) and builds the reply.
/// Without an index, the reply says why instead of failing.
pub async fn reply(
    query: String,
    search: impl FnOnce(&Searcher) -> Result<Vec<EngineHit>, EngineError> + Send + 'static,
) -> Result<SearchReply, ServerFnError> {
    let state = expect_context::<AppState>();
    let Some(searcher) = state.searcher().cloned() else {
        return Ok(SearchReply { query, index: state.status().clone(), hits: Vec::new(), took_ms: 0.0 });
    };
    let started = Instant::now();
    let found = tokio::task::spawn_blocking(move || search(&searcher))
        .await
        .map_err(|e| reject(StatusCode::INTERNAL_SERVER_ERROR, format!("the search stopped: {e}")))?;
    let hits = match found {
        Ok(hits) => hits,
        // What the user sent was the problem: an undecodable image, an unknown id.
        Err(EngineError::Image { reason, .. }) => return Err(reject(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("That file is not a usable image: {reason}."))),
        Err(EngineError::Usage(message)) => return Err(reject(StatusCode::NOT_FOUND, message)),
        Err(e) => {
            tracing::error!("search failed: {e}");
            return Err(reject(StatusCode::INTERNAL_SERVER_ERROR, format!("The search failed: {e}")));
        }
    };
    Ok(SearchReply {
        query,
        index: state.status().clone(),
        hits: hits.into_iter().map(to_hit).collect(),
        took_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

fn to_hit(h: EngineHit) -> Hit {
    Hit {
        thumb: format!("/thumb/{}", h.id),
        image: format!("/image/{}", h.id),
        id: h.id,
        path: h.path,
        score: h.score,
        width: h.width,
        height: h.height,
    }
}

/// The index status, for pages that only need to know whether search works.
pub fn status() -> IndexStatus {
    expect_context::<AppState>().status().clone()
}
