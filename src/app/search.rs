//! The search page: live query-as-you-type, the query in the URL, results grid, controls, and
//! the server functions behind it.

use std::time::Duration;

use futures::{
    channel::oneshot,
    future::{select, Either},
};

use leptos::{prelude::*, server_fn::codec::GetUrl};

use crate::i18n::*;
use leptos_router::{
    hooks::{use_navigate, use_query_map},
    NavigateOptions,
};

use super::{
    chrome::{use_hydrated, LanguageSwitch},
    filters::FilterControls,
    status::load_status,
    live::{use_live, IndexingProgress, Live},
    results::Results,
    types::*,
    upload::UploadSearch,
};

/// Text search: `GET /api/search?q=TEXT&k=30&min=0.1[&page=ID]` plus the filter and sort
/// parameters of [`Narrow`], JSON out. `q` follows the query grammar (`beach +sunset -people`,
/// `2:cat + dog`, `#12 + "at night"`). A client that names its page (live typing) gets 409 for
/// a query its newer one overtook before it was encoded.
#[server(endpoint = "search", input = GetUrl)]
pub async fn search(
    q: Option<String>,
    k: Option<String>,
    min: Option<String>,
    page: Option<String>,
    #[server(flatten)] narrow: Narrow,
) -> Result<SearchReply, ApiError> {
    use super::ssr;
    let query = validate_query(q.as_deref().unwrap_or_default()).map_err(ApiError::bad_request)?.to_string();
    let params = ssr::search_params(k.as_deref(), min.as_deref(), &narrow)?;
    let filter = ssr::search_filter(&narrow)?;
    let page = validate_page(page.as_deref()).map_err(ApiError::bad_request)?;
    let ticket = ssr::app_state()?.ticket(page);
    let text = query.clone();
    ssr::reply(query, move |s| s.search_query(&text, params, &filter, ticket)).await
}

/// More like this: `GET /api/similar?id=ID&k=30&min=0.1` plus the filter and sort parameters.
#[server(endpoint = "similar", input = GetUrl)]
pub async fn similar(id: Option<String>, k: Option<String>, min: Option<String>, #[server(flatten)] narrow: Narrow) -> Result<SearchReply, ApiError> {
    use super::ssr;
    let id = parse_id(id.as_deref()).map_err(ApiError::bad_request)?;
    let params = ssr::search_params(k.as_deref(), min.as_deref(), &narrow)?;
    let filter = ssr::search_filter(&narrow)?;
    let row = match ssr::app_state()?.searcher().map(|s| s.image(id)) {
        Some(Ok(row)) => row,
        Some(Err(e)) => return Err(ApiError::new(503, format!("The index cannot be read: {}", e.chain()))),
        None => None,
    };
    let label = row.map(|r| format!("images like {}", r.path)).ok_or_else(|| ApiError::new(404, format!("There is no image #{id} in the index.")))?;
    ssr::reply(label, move |s| s.similar_to(id, params, &filter)).await
}

/// What the URL asks for.
#[derive(Debug, Clone, PartialEq)]
struct Ask {
    q: String,
    like: Option<String>,
    k: String,
    min: String,
    narrow: Narrow,
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
        parts.extend(self.narrow.pairs().into_iter().map(|(name, value)| format!("{name}={}", encode_component(value))));
        if parts.is_empty() { "/".into() } else { format!("/?{}", parts.join("&")) }
    }
}

/// No search yet (`None`), or the server's answer.
type Answer = Option<Result<SearchReply, ApiError>>;

async fn answer_for(a: Ask) -> Answer {
    if let Some(id) = a.like {
        Some(similar(Some(id), Some(a.k), Some(a.min), a.narrow).await)
    } else if a.q.trim().is_empty() {
        None
    } else {
        Some(search(Some(a.q), Some(a.k), Some(a.min), page_id(), a.narrow).await)
    }
}

/// This page's name for the server (live typing: its older queries may be dropped), made
/// once per page load in the browser; none for the server's own render.
#[cfg(feature = "hydrate")]
fn page_id() -> Option<String> {
    use std::sync::OnceLock;
    static ID: OnceLock<String> = OnceLock::new();
    Some(ID.get_or_init(|| format!("p{:016x}", (js_sys::Math::random() * u64::MAX as f64) as u64)).clone())
}

#[cfg(not(feature = "hydrate"))]
fn page_id() -> Option<String> {
    None
}

/// What the URL's query string asks for, as it changes.
fn use_ask() -> Memo<Ask> {
    let params = use_query_map();
    Memo::new(move |_| {
        let p = params.read();
        Ask {
            q: p.get("q").unwrap_or_default(),
            like: p.get("like"),
            k: p.get("k").unwrap_or_default(),
            min: p.get("min").unwrap_or_default(),
            narrow: Narrow::from_params(|name| p.get(name)),
        }
    })
}

/// The text in the search box. It follows the URL (the back button), except for what this page
/// itself pushed there; returns the box's text and the last text pushed.
fn use_draft(ask: Memo<Ask>) -> (RwSignal<String>, StoredValue<String>) {
    let draft = RwSignal::new(ask.get_untracked().q);
    let pushed = StoredValue::new(ask.get_untracked().q);
    Effect::new(move |_| {
        let q = ask.get().q;
        if q != pushed.get_value() {
            pushed.set_value(q.clone());
            draft.set(q);
        }
    });
    (draft, pushed)
}

/// Puts a new ask into the URL (which starts its search); `replace` edits the history entry.
fn use_go(pushed: StoredValue<String>, uploaded: RwSignal<Answer>) -> impl Fn(Ask, bool) + Clone {
    let navigate = use_navigate();
    move |next: Ask, replace: bool| {
        pushed.set_value(next.q.clone());
        uploaded.set(None);
        navigate(&next.url(), NavigateOptions { replace, scroll: false, ..Default::default() });
    }
}

/// How long typing pauses before its text is searched. Short: each search carries the page's
/// ticket, so the server drops a superseded one before encoding it, and a person typing sees
/// the answer to what they have typed within the test's keystroke-to-results budget (100 ms p50).
const TYPING_PAUSE_MS: u64 = 40;

/// Searches typed text after a short pause; editing the same words replaces the history entry,
/// a new search adds one. Returns (on input, on submit).
fn use_typing(
    ask: Memo<Ask>,
    draft: RwSignal<String>,
    go: impl Fn(Ask, bool) + Clone + 'static,
) -> (impl Fn(leptos::ev::Event) + Clone, impl Fn(leptos::ev::SubmitEvent) + Clone) {
    let timer = StoredValue::new(None::<TimeoutHandle>);
    let cancel = move || {
        if let Some(t) = timer.get_value() {
            t.clear();
        }
    };
    let go_typed = move |text: String| {
        let current = ask.get_untracked();
        let replace = !current.q.is_empty() && (text.starts_with(&current.q) || current.q.starts_with(&text));
        go(Ask { q: text, like: None, ..current }, replace);
    };
    let on_input = {
        let go_typed = go_typed.clone();
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            draft.set(text.clone());
            cancel();
            let go_typed = go_typed.clone();
            timer.set_value(set_timeout_with_handle(move || go_typed(text), Duration::from_millis(TYPING_PAUSE_MS)).ok());
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        cancel();
        go_typed(draft.get_untracked());
    };
    (on_input, on_submit)
}

/// The answer to what the URL asks: one resource keyed on the ask, rendered on the server with
/// the page (so it works without JavaScript) and refetched as the URL changes.
///
/// A resource runs its fetches one after another, so a slow answer to an old ask would hold
/// back the newest one while the user types. A new ask therefore cuts the answer in flight
/// short: it ends at once with what is already shown, and the newest ask runs next.
fn use_answer(ask: Memo<Ask>, live: Live) -> Resource<Answer> {
    let shown: StoredValue<Answer> = StoredValue::new(None);
    // The ask being answered now, and how to cut its answer short.
    let in_flight = StoredValue::new(None::<(Ask, oneshot::Sender<()>)>);
    Effect::new(move |_| {
        let now = ask.get();
        let stale = in_flight.try_update_value(|f| f.take_if(|(asked, _)| *asked != now)).flatten();
        if let Some((_, cut)) = stale {
            let _ = cut.send(());
        }
    });
    Resource::new(
        // Asked again when the index changed: new photos show up in the results. On the server
        // the page's signals are disposed when its response ends, while the resource's task may
        // still look at them: `try_` reads (None: the page is gone, nothing to answer).
        move || (ask.try_get(), live.index_changed.try_get()),
        move |(a, _)| {
            let (cut, superseded) = oneshot::channel();
            if let Some(a) = &a {
                in_flight.try_set_value(Some((a.clone(), cut)));
            }
            async move {
                let a = a?;
                match select(Box::pin(answer_for(a)), superseded).await {
                    Either::Left((answer, _)) => {
                        shown.try_set_value(answer.clone());
                        answer
                    }
                    Either::Right(_) => shown.try_get_value().flatten(),
                }
            }
        },
    )
}

#[component]
pub fn SearchPage() -> impl IntoView {
    let ask = use_ask();
    let live = use_live();
    let answer = use_answer(ask, live);
    let status = Resource::new(move || live.index_changed.try_get(), |_| load_status(None));
    let uploaded: RwSignal<Answer> = RwSignal::new(None);
    let pending = RwSignal::new(false);
    let hydrated = use_hydrated();
    let (draft, pushed) = use_draft(ask);
    let go = use_go(pushed, uploaded);
    let (on_input, on_submit) = use_typing(ask, draft, go.clone());
    let i18n = use_i18n();

    view! {
        <main class="page" data-hydrated=move || hydrated.get().then_some("true")
            on:dragover=|ev| ev.prevent_default()>
            <header class="masthead">
                <h1><a href="/">"clipfind"</a></h1>
                <p class="tagline">{t!(i18n, tagline)}</p>
                <nav class="nav">
                    <a href="/duplicates">{t!(i18n, nav_duplicates)}</a><LanguageSwitch/>
                    <Suspense fallback=|| ()>
                        {move || status.get().and_then(Result::ok).filter(|s| s.signed_in).map(|_| view! { <super::login::SignOut/> })}
                    </Suspense>
                </nav>
            </header>
            <Suspense fallback=|| ()>
                {move || status.get().and_then(Result::ok).map(|s| view! { <IndexBanner status=s.index/> })}
            </Suspense>
            <IndexingProgress live=live/>
            <form class="search" method="get" action="/" role="search" on:submit=on_submit>
                <label for="q" class="visually-hidden">{t!(i18n, search_label)}</label>
                <input id="q" name="q" type="search" autofocus autocomplete="off" spellcheck="false"
                    placeholder=move || t_string!(i18n, placeholder)
                    maxlength=MAX_QUERY_CHARS.to_string()
                    value=ask.get_untracked().q
                    prop:value=move || draft.get()
                    on:input=on_input/>
                <SearchControls ask=ask go=go.clone() uploaded=uploaded/>
                <FilterControls narrow=Signal::derive(move || ask.get().narrow)
                    set=move |narrow| go(Ask { narrow, ..ask.get_untracked() }, false)/>
            </form>
            <Transition fallback=move || view! { <p id="status" role="status" class="status">{t!(i18n, searching)}</p> } set_pending=pending.write_only()>
                {move || {
                    let page_answer = answer.get()?;
                    Some(view! { <Results answer=uploaded.get().or(page_answer) busy=pending.into()/> })
                }}
            </Transition>
        </main>
    }
}

/// Results per page, minimum similarity, the Go button and search by image.
#[component]
fn SearchControls(ask: Memo<Ask>, go: impl Fn(Ask, bool) + Clone + Send + Sync + 'static, uploaded: RwSignal<Answer>) -> impl IntoView {
    let set_k = {
        let go = go.clone();
        move |ev: leptos::ev::Event| go(Ask { k: event_target_value(&ev), ..ask.get_untracked() }, false)
    };
    let set_min = move |ev: leptos::ev::Event| go(Ask { min: event_target_value(&ev), ..ask.get_untracked() }, true);
    let min_shown = move |a: &Ask| parse_min_score(Some(&a.min)).unwrap_or(DEFAULT_MIN_SCORE).to_string();
    let i18n = use_i18n();
    view! {
        <div class="controls">
            <label>{t!(i18n, results_per_page)}
                <select name="k" on:change=set_k>
                    {[10usize, 30, 60, 100, 200].into_iter().map(|k| view! {
                        <option value=k.to_string() selected=move || parse_k(Some(&ask.get().k)).unwrap_or(DEFAULT_K) == k>{k}</option>
                    }).collect_view()}
                </select>
            </label>
            <label title=move || t_string!(i18n, cutoff_title)>{t!(i18n, cutoff)}
                <input name="min" type="number" step="0.01" min="-1" max="1"
                    value=min_shown(&ask.get_untracked())
                    prop:value=move || min_shown(&ask.get())
                    on:change=set_min/>
            </label>
            <button type="submit" class="go">{t!(i18n, go)}</button>
            <UploadSearch uploaded=uploaded k=Signal::derive(move || ask.get().k) min=Signal::derive(move || ask.get().min)
                narrow=Signal::derive(move || ask.get().narrow)/>
        </div>
    }
}

/// What the loaded index is, or why there is none and how to build it.
#[component]
fn IndexBanner(status: IndexStatus) -> impl IntoView {
    let i18n = use_i18n();
    match status {
        IndexStatus::Ready(info) => view! {
            <p class="index-info">{t!(i18n, index_info, images = info.images, model = info.model.clone())}</p>
            {info.demo_model.then(|| view! {
                <p class="banner demo" role="note">
                    {t!(i18n, demo_banner, <code> = |children: ChildrenFn| view! { <code>{children()}</code> })}
                </p>
            })}
        }
        .into_any(),
        IndexStatus::NotLoaded { reason, command } => view! {
            <section class="banner setup" role="alert">
                <h2>{t!(i18n, no_index)}</h2>
                <p>{reason}</p>
                {command.map(|c| view! { <p>{t!(i18n, build_it)}<code class="command">{c}</code></p> })}
            </section>
        }
        .into_any(),
    }
}
