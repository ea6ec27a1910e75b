//! The library's status, for the search page's header and the live view.

use leptos::{prelude::*, server_fn::codec::GetUrl};

use super::types::*;

/// Whether an index is loaded, what it holds, and the indexing in progress:
/// `GET /api/status` (`?skipped=1` lists the files the run could not index, and why).
#[server(endpoint = "status", input = GetUrl)]
pub async fn load_status(skipped: Option<String>) -> Result<StatusReply, ApiError> {
    let state = super::ssr::app_state()?;
    let with_files = matches!(skipped.as_deref(), Some("1" | "true"));
    let trimmed = |mut counts: Vec<u64>| {
        while counts.last() == Some(&0) {
            counts.pop();
        }
        counts
    };
    let (texts, vectors) = state.searcher().map(|s| s.batch_sizes()).unwrap_or_default();
    let (text_batches, vector_batches) = (trimmed(texts.counts), trimmed(vectors.counts));
    Ok(StatusReply { index: state.status(), indexing: state.indexing(with_files), text_batches, vector_batches, signed_in: super::ssr::signed_in_by_session() })
}
