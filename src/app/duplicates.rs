//! The Duplicates page: groups of exact copies, near copies and bursts, largest first, with a
//! threshold slider (in the URL). Opening a group shows its files side by side with their
//! sizes and dates. Nothing is ever deleted.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::{hooks::use_query_map, NavigateOptions};

use super::types::*;
use crate::i18n::*;

/// `GET /api/duplicates?threshold=0.95[&burst=5]`: the groups, largest first.
#[server(endpoint = "duplicates", input = GetUrl)]
pub async fn duplicates(threshold: Option<String>, burst: Option<String>) -> Result<DuplicatesReply, ApiError> {
    use super::ssr;
    let threshold = parse_threshold(threshold.as_deref()).map_err(ApiError::bad_request)?;
    let burst = match burst.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => DEFAULT_BURST_SECONDS,
        Some(b) => b.parse::<i64>().ok().filter(|s| (0..=3600).contains(s)).ok_or_else(|| ApiError::bad_request(format!("burst must be whole seconds from 0 to 3600, not “{b}”.")))?,
    };
    let state = ssr::app_state()?.current();
    let Some(searcher) = state.searcher().cloned() else {
        return Ok(DuplicatesReply { threshold, groups: Vec::new(), images: 0 });
    };
    let images = searcher.stats().images;
    let groups = tokio::task::spawn_blocking(move || searcher.duplicates(threshold, burst))
        .await
        .map_err(|e| {
            tracing::error!("the duplicate search stopped: {e}");
            ApiError::new(500, "The duplicate search stopped; the server's log says why.")
        })?
        .map_err(ssr::api_error)?;
    Ok(DuplicatesReply { threshold, images, groups: groups.into_iter().map(ssr::to_duplicate_group).collect() })
}

#[component]
pub fn DuplicatesPage() -> impl IntoView {
    let hydrated = super::chrome::use_hydrated();
    let i18n = use_i18n();
    let params = use_query_map();
    let threshold = Memo::new(move |_| params.read().get("threshold").unwrap_or_default());
    // try_get: the page's memo is disposed when the server's response ends (see the search page).
    let answer = Resource::new(move || threshold.try_get(), |t| duplicates(t, None));
    let navigate = leptos_router::hooks::use_navigate();
    let shown = move || parse_threshold(Some(&threshold.get())).unwrap_or(DEFAULT_DUPLICATE_THRESHOLD);
    let on_change = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        navigate(&format!("/duplicates?threshold={}", encode_component(&value)), NavigateOptions { scroll: false, ..Default::default() });
    };
    view! {
        <main class="page duplicates" data-hydrated=move || hydrated.get().then_some("true")>
            <header class="masthead">
                <h1><a href="/">"clipfind"</a></h1>
                <p class="tagline">{t!(i18n, duplicates_tagline)}</p>
                <nav class="nav"><a href="/">{t!(i18n, nav_search)}</a><super::chrome::LanguageSwitch/></nav>
            </header>
            <form class="controls" method="get" action="/duplicates">
                <label>{t!(i18n, similarity_threshold)}
                    <input id="threshold" name="threshold" type="range" min="0.8" max="1" step="0.005"
                        value=move || shown().to_string() prop:value=move || shown().to_string() on:change=on_change/>
                    <output for="threshold">{move || format!("{:.3}", shown())}</output>
                </label>
                <noscript><button type="submit">{t!(i18n, apply)}</button></noscript>
            </form>
            <Transition fallback=move || view! { <p class="status" role="status">{t!(i18n, looking_for_duplicates)}</p> }>
                {move || answer.get().map(|reply| match reply {
                    Ok(reply) => view! { <Groups reply=reply/> }.into_any(),
                    Err(e) => view! { <p class="status error" role="alert">{e.error}</p> }.into_any(),
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Groups(reply: DuplicatesReply) -> impl IntoView {
    let files: usize = reply.groups.iter().map(|g| g.members.len()).sum();
    let (groups, images) = (reply.groups.len(), reply.images);
    let i18n = use_i18n();
    let summary = move || {
        let l = i18n.get_locale();
        let groups = if groups == 1 { td_string!(l, group_one).to_string() } else { td_string!(l, group_many, n = groups) };
        let files = if files == 1 { td_string!(l, file_one).to_string() } else { td_string!(l, file_many, n = files) };
        td_string!(l, duplicates_summary, groups = groups, files = files, images = images)
    };
    view! {
        <p id="status" class="status" role="status">{summary}</p>
        <ul id="groups" class="groups">
            {reply.groups.into_iter().map(|group| view! { <GroupCard group=group/> }).collect_view()}
        </ul>
    }
}

#[component]
fn GroupCard(group: DuplicateGroup) -> impl IntoView {
    let i18n = use_i18n();
    let kind = match group.kind.as_str() {
        "exact" => t_string!(i18n, kind_exact),
        "burst" => t_string!(i18n, kind_burst),
        _ => t_string!(i18n, kind_near),
    };
    let first = group.members[0].clone();
    let title = t_string!(i18n, group_title, n = group.members.len(), path = &first.path);
    view! {
        <li class="group" data-kind=group.kind.clone()>
            <details>
                <summary>
                    <img src=format!("/thumb/{}", first.id) alt=first.path.clone() loading="lazy"/>
                    <span class="kind">{kind}</span>
                    <span class="group-title">{title}</span>
                </summary>
                <ul class="members">
                    {group.members.into_iter().map(|m| view! {
                        <li class="member">
                            <a href=format!("/image/{}", m.id)><img src=format!("/thumb/{}", m.id) alt=m.path.clone() loading="lazy"/></a>
                            <span class="path">{m.path.clone()}</span>
                            <span class="facts">{t_string!(i18n, member_facts, size = format!("{}×{}", m.width, m.height), kb = m.size.div_ceil(1024),
                                taken = m.taken.as_deref().map(|t| format!(" · {}", t.replace('T', " "))).unwrap_or_default(),
                                similarity = format!("{:.3}", m.similarity),
                                copies = match m.copies { 0 => String::new(), 1 => t_string!(i18n, exact_copy_one).to_string(), n => t_string!(i18n, exact_copy_many, n = n) })}</span>
                            <a class="like" href=format!("/?like={}", m.id)>{t!(i18n, more_like_this)}</a>
                        </li>
                    }).collect_view()}
                </ul>
            </details>
        </li>
    }
}
