//! The status line, the grid of results and the lightbox.

use leptos::{ev, prelude::*};

use super::types::{clock, ApiError, Hit, IndexStatus, SearchReply};
use crate::i18n::*;

/// The honest one-line state of the search, as (CSS class, text in `locale`).
pub fn status_line(answer: &Option<Result<SearchReply, ApiError>>, locale: Locale) -> (&'static str, String) {
    match answer {
        None => ("status idle", td_string!(locale, status_idle).to_string()),
        Some(Err(e)) => ("status error", e.error.clone()),
        Some(Ok(SearchReply { query, index: IndexStatus::NotLoaded { .. }, .. })) => {
            ("status warning", td_string!(locale, status_not_loaded, query = query))
        }
        Some(Ok(r)) if r.hits.is_empty() => ("status empty", td_string!(locale, status_empty, query = &r.query)),
        Some(Ok(r)) => {
            let ms = format!("{:.0}", r.took_ms);
            let text = match r.hits.len() {
                1 => td_string!(locale, status_ok_one, query = &r.query, ms = ms),
                count => td_string!(locale, status_ok_many, count = count, query = &r.query, ms = ms),
            };
            ("status ok", text)
        }
    }
}

#[component]
pub fn Results(answer: Option<Result<SearchReply, ApiError>>, busy: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let class = status_line(&answer, Locale::en).0;
    let status = StoredValue::new(answer.clone());
    let text = move || status.with_value(|answer| status_line(answer, i18n.get_locale()).1);
    let hits = answer.and_then(Result::ok).map(|r| r.hits).unwrap_or_default();
    let open = RwSignal::new(None::<usize>);
    let count = hits.len();
    let cards = hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let open_here = move |ev: ev::MouseEvent| {
                // Without JavaScript the link opens the image itself.
                if !(ev.ctrl_key() || ev.meta_key() || ev.shift_key()) {
                    ev.prevent_default();
                    open.set(Some(i));
                }
            };
            view! {
                <li class="card" class:video=hit.is_video()>
                    <a class="thumb" href=media_url(hit) on:click=open_here aria-label={ let name = hit.label(); move || td_string!(i18n.get_locale(), view_image, name = &name) }>
                        <img src=hit.thumb.clone() alt=hit.label() loading="lazy"
                            width=hit.width.to_string() height=hit.height.to_string()/>
                        {hit.timestamp.map(|t| view! { <span class="moment" title=move || t_string!(i18n, video_moment)>{clock(t)}</span> })}
                        {hit.motion.is_some().then(|| view! { <span class="live" title=move || t_string!(i18n, live_photo)>"LIVE"</span> })}
                    </a>
                    <div class="meta">
                        <span class="path" title=hit.label()>{hit.label()}</span>
                        <span class="score" title=move || t_string!(i18n, cosine_similarity)>{format!("{:.3}", hit.score)}</span>
                    </div>
                    {hit.words.as_ref().and_then(|w| w.snippet.clone()).map(|snippet| view! {
                        <p class="words-match" title=move || t_string!(i18n, words_matched)>{marked(&snippet)}</p>
                    })}
                    {hit.day().map(str::to_string).map(|day| view! {
                        <time class="taken" datetime=hit.taken.clone().unwrap_or_default() title=hit.taken_title()>{day}</time>
                    })}
                    <a class="like" href=format!("/?like={}", hit.id)>{t!(i18n, more_like_this)}</a>
                </li>
            }
        })
        .collect_view();
    view! {
        <p id="status" role="status" class=class aria-busy=move || busy.get().to_string()>{text}</p>
        <ul id="results" class="grid" aria-label="Results">{cards}</ul>
        {(count > 0).then(|| view! { <Lightbox hits=hits open=open/> })}
    }
}

/// A snippet of recognised text with the query's words in `<mark>`.
fn marked(snippet: &super::types::Snippet) -> impl IntoView {
    snippet
        .pieces()
        .into_iter()
        .map(|(piece, marked)| match marked {
            true => view! { <mark>{piece}</mark> }.into_any(),
            false => piece.into_any(),
        })
        .collect_view()
}

/// The original, and for a video the moment that matched (a media fragment: the browser starts
/// playing there, and the server answers its Range requests).
fn media_url(hit: &Hit) -> String {
    match hit.timestamp {
        Some(t) => format!("{}#t={t:.3}", hit.image),
        None => hit.image.clone(),
    }
}

/// The chosen result full size (a video plays from its moment); arrows move through the
/// results, Esc closes.
#[component]
fn Lightbox(hits: Vec<Hit>, open: RwSignal<Option<usize>>) -> impl IntoView {
    let n = hits.len();
    let i18n = use_i18n();
    let step = move |delta: isize| {
        open.update(|o| {
            if let Some(i) = o {
                *i = (*i as isize + delta).rem_euclid(n as isize) as usize;
            }
        })
    };
    let keys = window_event_listener(ev::keydown, move |e| {
        if open.get_untracked().is_none() {
            return;
        }
        match e.key().as_str() {
            "Escape" => open.set(None),
            "ArrowRight" => step(1),
            "ArrowLeft" => step(-1),
            _ => return,
        }
        e.prevent_default();
    });
    on_cleanup(move || keys.remove());
    let close_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if open.get().is_some() {
            if let Some(b) = close_button.get() {
                let _ = b.focus();
            }
        }
    });
    let hits = StoredValue::new(hits);
    view! {
        <Show when=move || open.get().is_some()>
            {move || {
                let i = open.get().unwrap_or(0);
                let hit = hits.with_value(|h| h[i].clone());
                let extra = format!("{}{}", hit.day().map(|d| format!(" · {d}")).unwrap_or_default(),
                    hit.camera.as_ref().map(|c| format!(" · {c}")).unwrap_or_default());
                let details = td_string!(i18n.get_locale(), lightbox_details, id = hit.id, score = format!("{:.3}", hit.score),
                    size = format!("{}×{}", hit.width, hit.height), extra = extra, position = i + 1, total = n);
                view! {
                    <div class="lightbox" role="dialog" aria-modal="true" aria-label=hit.label()
                        on:click=move |_| open.set(None)>
                        <figure on:click=|e| e.stop_propagation()>
                            {match (hit.is_video(), hit.motion.clone()) {
                                (true, _) => view! { <video src=media_url(&hit) controls=true autoplay=true muted=true playsinline=true aria-label=hit.label()></video> }.into_any(),
                                // A Live Photo: the still, which plays its motion when asked.
                                (false, Some(motion)) => view! { <video class="motion" src=motion poster=hit.view.clone() controls=true muted=true playsinline=true aria-label=hit.label()></video> }.into_any(),
                                (false, None) => view! { <img src=hit.view.clone() alt=hit.label()/> }.into_any(),
                            }}
                            <figcaption>
                                <span class="path">{hit.label()}</span>
                                <span class="score" title=move || t_string!(i18n, id_title)>{details}</span>
                                {hit.words.clone().map(|words| view! {
                                    <pre class="words" aria-label=move || t_string!(i18n, words_in_image)>{words.text}</pre>
                                })}
                            </figcaption>
                            <button class="nav prev" aria-label=move || t_string!(i18n, previous) on:click=move |_| step(-1)>"‹"</button>
                            <button class="nav next" aria-label=move || t_string!(i18n, next) on:click=move |_| step(1)>"›"</button>
                            <button class="close" aria-label=move || t_string!(i18n, close) node_ref=close_button on:click=move |_| open.set(None)>"×"</button>
                        </figure>
                    </div>
                }
            }}
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(hits: usize) -> SearchReply {
        SearchReply {
            query: "a dog".into(),
            index: IndexStatus::Ready(super::super::types::IndexInfo { images: 9, model: "m".into(), demo_model: false, last_indexed: 0, words: Default::default() }),
            hits: (0..hits)
                .map(|i| Hit {
                    id: i as i64,
                    path: format!("{i}.jpg"),
                    folder: None,
                    score: 0.3,
                    width: 1,
                    height: 1,
                    thumb: String::new(),
                    image: String::new(),
                    view: String::new(),
                    taken: None,
                    taken_source: None,
                    camera: None,
                    location: None,
                    kind: "image".into(),
                    timestamp: None,
                    duration: None,
                    moments: Vec::new(),
                    motion: None,
                    matched: Vec::new(),
                    words: None,
                })
                .collect(),
            took_ms: 12.4,
            stages: Vec::new(),
        }
    }

    #[test]
    fn the_status_line_never_pretends() {
        let status_line = |answer: &Option<Result<SearchReply, ApiError>>| super::status_line(answer, Locale::en);
        assert_eq!(status_line(&Some(Ok(reply(2)))), ("status ok", "2 images for “a dog” in 12 ms".to_string()));
        assert_eq!(status_line(&Some(Ok(reply(1)))).1, "1 image for “a dog” in 12 ms");
        assert_eq!(super::status_line(&Some(Ok(reply(2))), Locale::zh).1, "“a dog”找到 2 张图片，用时 12 毫秒");
        assert_eq!(status_line(&Some(Ok(reply(0)))).0, "status empty");
        let not_loaded = SearchReply { index: IndexStatus::NotLoaded { reason: "x".into(), command: None }, ..reply(0) };
        assert!(status_line(&Some(Ok(not_loaded))).1.contains("“a dog” was not searched"));
        let (class, text) = status_line(&Some(Err(ApiError { error: "Too long.".into(), status: 400 })));
        assert_eq!((class, text.as_str()), ("status error", "Too long."));
    }
}
