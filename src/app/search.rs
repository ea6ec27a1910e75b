//! The search page: live query-as-you-type, the query in the URL, results grid, controls, and
//! the server functions behind it.

use std::time::Duration;

use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::{
    hooks::{use_navigate, use_query_map},
    NavigateOptions,
};

use super::{
    results::Results,
    types::*,
    upload::UploadSearch,
};

/// Text search: `GET /api/search?q=TEXT&k=30&min=0.1`, JSON out.
#[server(endpoint = "search", input = GetUrl)]
pub async fn search(q: Option<String>, k: Option<String>, min: Option<String>) -> Result<SearchReply, ServerFnError> {
    use crate::{engine::searcher::SearchParams, server::api};
    let query = validate_query(q.as_deref().unwrap_or_default()).map_err(api::bad_request)?.to_string();
    let params = SearchParams {
        k: parse_k(k.as_deref()).map_err(api::bad_request)?,
        min_score: parse_min_score(min.as_deref()).map_err(api::bad_request)?,
    };
    let text = query.clone();
    api::reply(query, move |s| s.search_text(&text, params)).await
}

/// More like this: `GET /api/similar?id=ID&k=30&min=0.1`.
#[server(endpoint = "similar", input = GetUrl)]
pub async fn similar(id: Option<String>, k: Option<String>, min: Option<String>) -> Result<SearchReply, ServerFnError> {
    use crate::{engine::searcher::SearchParams, server::{api, AppState}};
    let id = parse_id(id.as_deref()).map_err(api::bad_request)?;
    let params = SearchParams {
        k: parse_k(k.as_deref()).map_err(api::bad_request)?,
        min_score: parse_min_score(min.as_deref()).map_err(api::bad_request)?,
    };
    let label = expect_context::<AppState>()
        .searcher()
        .and_then(|s| s.image(id).map(|(path, _, _)| format!("images like {path}")))
        .ok_or_else(|| api::reject(axum::http::StatusCode::NOT_FOUND, format!("There is no image #{id} in the index.")))?;
    api::reply(label, move |s| s.similar_to(id, params)).await
}

/// Whether an index is loaded, and what it holds: `GET /api/status`.
#[server(endpoint = "status", input = GetUrl)]
pub async fn load_status() -> Result<IndexStatus, ServerFnError> {
    Ok(crate::server::api::status())
}

/// What the URL asks for.
#[derive(Debug, Clone, PartialEq)]
struct Ask {
    q: String,
    like: Option<String>,
    k: String,
    min: String,
}

impl Ask {
    fn url(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = &self.like {
            parts.push(format!("like={}", encode_component(id)));
        } else if !self.q.trim().is_empty() {
            parts.push(format!("q={}", encode_component(&self.q)));
        }
        if !self.k.is_empty() && self.k != DEFAULT_K.to_string() {
            parts.push(format!("k={}", encode_component(&self.k)));
        }
        if !self.min.is_empty() && self.min != DEFAULT_MIN_SCORE.to_string() {
            parts.push(format!("min={}", encode_component(&self.min)));
        }
        if parts.is_empty() { "/".into() } else { format!("/?{}", parts.join("&")) }
    }
}

type Answer = Option<Result<SearchReply, ServerFnError>>;

async fn answer_for(a: Ask) -> Answer {
    if let Some(id) = a.like {
        Some(similar(Some(id), Some(a.k), Some(a.min)).await)
    } else if a.q.trim().is_empty() {
        None
    } else {
        Some(search(Some(a.q), Some(a.k), Some(a.min)).await)
    }
}

#[component]
pub fn SearchPage() -> impl IntoView {
    let params = use_query_map();
    let ask = Memo::new(move |_| {
        let p = params.read();
        Ask {
            q: p.get("q").unwrap_or_default(),
            like: p.get("like"),
            k: p.get("k").unwrap_or_default(),
            min: p.get("min").unwrap_or_default(),
        }
    });
    // The first answer is loaded with the page (rendered on the server, so it works without
    // JavaScript); later ones are fetched as the URL changes. Requests overlap freely and each
    // carries a number: an answer older than the newest request is dropped, so a slow response
    // never overwrites a newer one.
    let first = Resource::new(|| (), move |_| answer_for(ask.get_untracked()));
    let live: RwSignal<Option<Answer>> = RwSignal::new(None);
    let newest = StoredValue::new(0u64);
    let pending = RwSignal::new(false);
    Effect::new(move |seen: Option<()>| {
        let next = ask.get();
        if seen.is_none() {
            return; // the page's own request, already answered by `first`
        }
        let number = newest.get_value() + 1;
        newest.set_value(number);
        pending.set(true);
        leptos::task::spawn_local(async move {
            let answer = answer_for(next).await;
            if newest.get_value() == number {
                live.set(Some(answer));
                pending.set(false);
            }
        });
    });
    let status = Resource::new(|| (), |_| load_status());
    let uploaded: RwSignal<Answer> = RwSignal::new(None);

    // Browser tests wait for this before typing: effects only run once hydrated.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    // The text box follows the URL (back button), except for what this page itself pushed.
    let draft = RwSignal::new(ask.get_untracked().q);
    let pushed = StoredValue::new(ask.get_untracked().q);
    Effect::new(move |_| {
        let q = ask.get().q;
        if q != pushed.get_value() {
            pushed.set_value(q.clone());
            draft.set(q);
        }
    });

    let navigate = use_navigate();
    let go = move |next: Ask, replace: bool| {
        pushed.set_value(next.q.clone());
        uploaded.set(None);
        navigate(&next.url(), NavigateOptions { replace, scroll: false, ..Default::default() });
    };
    let timer = StoredValue::new(None::<TimeoutHandle>);
    let go_typed = {
        let go = go.clone();
        move |text: String| {
            let current = ask.get_untracked();
            // Editing the same words replaces the history entry; a new search adds one.
            let replace = !current.q.is_empty() && (text.starts_with(&current.q) || current.q.starts_with(&text));
            go(Ask { q: text, like: None, ..current }, replace);
        }
    };
    let on_input = {
        let go_typed = go_typed.clone();
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            draft.set(text.clone());
            if let Some(t) = timer.get_value() {
                t.clear();
            }
            let go_typed = go_typed.clone();
            let handle = set_timeout_with_handle(move || go_typed(text), Duration::from_millis(100)).ok();
            timer.set_value(handle);
        }
    };
    let on_submit = {
        let go_typed = go_typed.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if let Some(t) = timer.get_value() {
                t.clear();
            }
            go_typed(draft.get_untracked());
        }
    };
    let set_k = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            go(Ask { k: event_target_value(&ev), ..ask.get_untracked() }, false);
        }
    };
    let set_min = {
        let go = go.clone();
        move |ev: leptos::ev::Event| {
            go(Ask { min: event_target_value(&ev), ..ask.get_untracked() }, true);
        }
    };

    view! {
        <main class="page" data-hydrated=move || hydrated.get().then_some("true")
            on:dragover=|ev| ev.prevent_default()>
            <header class="masthead">
                <h1><a href="/">"clipfind"</a></h1>
                <p class="tagline">"Describe a photo, see it."</p>
            </header>
            <Suspense fallback=|| ()>
                {move || status.get().and_then(Result::ok).map(|s| view! { <IndexBanner status=s/> })}
            </Suspense>
            <form class="search" method="get" action="/" role="search" on:submit=on_submit>
                <label for="q" class="visually-hidden">"Search your images"</label>
                <input id="q" name="q" type="search" autofocus autocomplete="off" spellcheck="false"
                    placeholder="a dog sitting on a bench"
                    maxlength=MAX_QUERY_CHARS.to_string()
                    value=ask.get_untracked().q
                    prop:value=move || draft.get()
                    on:input=on_input/>
                <div class="controls">
                    <label>"Results per page "
                        <select name="k" on:change=set_k>
                            {[10usize, 30, 60, 100, 200].into_iter().map(|k| view! {
                                <option value=k.to_string() selected=move || parse_k(Some(&ask.get().k)).unwrap_or(DEFAULT_K) == k>{k}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Minimum similarity "
                        <input name="min" type="number" step="0.01" min="-1" max="1"
                            value=parse_min_score(Some(&ask.get_untracked().min)).unwrap_or(DEFAULT_MIN_SCORE).to_string()
                            prop:value=move || parse_min_score(Some(&ask.get().min)).unwrap_or(DEFAULT_MIN_SCORE).to_string()
                            on:change=set_min/>
                    </label>
                    <button type="submit" class="go">"Go"</button>
                    <UploadSearch uploaded=uploaded k=Signal::derive(move || ask.get().k) min=Signal::derive(move || ask.get().min)/>
                </div>
            </form>
            <Suspense fallback=|| view! { <p id="status" role="status" class="status">"Searching…"</p> }>
                {move || {
                    let page_answer = first.get()?;
                    let answer = uploaded.get().or_else(|| live.get().unwrap_or(page_answer));
                    Some(view! { <Results answer=answer busy=pending.into()/> })
                }}
            </Suspense>
        </main>
    }
}

/// What the loaded index is, or why there is none and how to build it.
#[component]
fn IndexBanner(status: IndexStatus) -> impl IntoView {
    match status {
        IndexStatus::Ready(info) => view! {
            <p class="index-info">{format!("{} images · model {}", info.images, info.model)}</p>
            {info.demo_model.then(|| view! {
                <p class="banner demo" role="note">
                    "Demo model: it was trained here on generated shapes and colours, so it understands "
                    "queries like “a red circle”, not real photos. Run "<code>"clipfind models fetch"</code>
                    " for OpenAI CLIP."
                </p>
            })}
        }
        .into_any(),
        IndexStatus::NotLoaded { reason, command } => view! {
            <section class="banner setup" role="alert">
                <h2>"No index loaded"</h2>
                <p>{reason}</p>
                {command.map(|c| view! { <p>"Build it with: "<code class="command">{c}</code></p> })}
            </section>
        }
        .into_any(),
    }
}
