//! The search page and the server function behind it.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

/// Longest query accepted; CLIP reads 77 tokens, anything this long is a mistake or abuse.
pub const MAX_QUERY_CHARS: usize = 2000;

/// Whether the server has an index it can search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IndexStatus {
    NotLoaded { reason: String },
}

/// The server's answer to one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReply {
    /// The query as the server received it (trimmed).
    pub query: String,
    pub index: IndexStatus,
}

/// Trims the query and refuses empty or over-long ones with a message for the user.
pub fn validate_query(raw: &str) -> Result<&str, String> {
    let query = raw.trim();
    if query.is_empty() {
        return Err("Type something to search for.".into());
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("The query is too long: at most {MAX_QUERY_CHARS} characters."));
    }
    Ok(query)
}

/// Text search. GET, so a search is a plain shareable URL: `/api/search?q=...`.
#[server(endpoint = "search", input = GetUrl)]
pub async fn search(q: String) -> Result<SearchReply, ServerFnError> {
    use crate::server::AppState;

    let query = match validate_query(&q) {
        Ok(query) => query.to_string(),
        Err(message) => {
            expect_context::<leptos_axum::ResponseOptions>()
                .set_status(axum::http::StatusCode::BAD_REQUEST);
            return Err(ServerFnError::Args(message));
        }
    };
    let state = expect_context::<AppState>();
    Ok(SearchReply { query, index: state.index().clone() })
}

#[component]
pub fn SearchPage() -> impl IntoView {
    let (query, set_query) = signal(String::new());
    // Browser tests wait for this before typing: effects only run once hydrated.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    // Resource refetches on every change and keeps only the newest answer.
    let reply = Resource::new(
        move || query.get(),
        |q| async move {
            if q.trim().is_empty() {
                None
            } else {
                Some(search(q).await)
            }
        },
    );

    view! {
        <main class="page" data-hydrated=move || hydrated.get().then_some("true")>
            <header class="masthead">
                <h1>"clipfind"</h1>
                <p class="tagline">"Describe a photo, see it."</p>
            </header>
            <form class="search" method="get" action="/" role="search"
                on:submit=|ev| ev.prevent_default()>
                <label for="q" class="visually-hidden">"Search your images"</label>
                <input id="q" name="q" type="search" autofocus autocomplete="off"
                    placeholder="a dog sitting on a bench"
                    maxlength=MAX_QUERY_CHARS.to_string()
                    prop:value=query
                    on:input=move |ev| set_query.set(event_target_value(&ev))/>
            </form>
            <Transition fallback=|| view! { <p id="status" role="status">"Searching…"</p> }>
                {move || {
                    let (class, text) = status_line(reply.get().flatten());
                    view! { <p id="status" role="status" class=class>{text}</p> }
                }}
            </Transition>
            <section id="results" aria-label="Results" aria-live="polite"></section>
        </main>
    }
}

/// The honest one-line state of the search, as (CSS class, text).
fn status_line(reply: Option<Result<SearchReply, ServerFnError>>) -> (&'static str, String) {
    match reply {
        None => ("status idle", "Type to search your images.".into()),
        Some(Err(e)) => ("status error", server_message(&e)),
        Some(Ok(SearchReply { query, index: IndexStatus::NotLoaded { reason } })) => (
            "status warning",
            format!("No index loaded, so “{query}” was not searched. {reason}"),
        ),
    }
}

/// The message a server function error carries, without the framework's wrapping.
fn server_message(e: &ServerFnError) -> String {
    match e {
        ServerFnError::Args(m) | ServerFnError::ServerError(m) => m.clone(),
        other => format!("The search failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(validate_query("  a dog \n"), Ok("a dog"));
        assert!(validate_query("   ").is_err());
        assert!(validate_query(&"x".repeat(MAX_QUERY_CHARS)).is_ok());
        let long = validate_query(&"é".repeat(MAX_QUERY_CHARS + 1)).unwrap_err();
        assert!(long.contains("at most 2000"), "{long}");
    }

    #[test]
    fn the_status_line_never_pretends() {
        let reply = SearchReply {
            query: "a dog".into(),
            index: IndexStatus::NotLoaded { reason: "No index here.".into() },
        };
        let (class, text) = status_line(Some(Ok(reply)));
        assert_eq!(class, "status warning");
        assert!(text.contains("“a dog” was not searched") && text.ends_with("No index here."));
        let (class, text) = status_line(Some(Err(ServerFnError::Args("Too long.".into()))));
        assert_eq!((class, text.as_str()), ("status error", "Too long."));
    }
}
