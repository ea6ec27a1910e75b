//! The page kept live: an `EventSource` on `/api/live` tells it when the index changed (results
//! are fetched again, so new photos appear without a reload) and how indexing is going (a
//! progress line: images done of total, rate, time left, folder, files skipped and why).

use leptos::prelude::*;

use super::{status::load_status, types::*};
use crate::i18n::*;

/// What the server last said, and a counter that moves each time the searched index changed
/// after the page loaded (results keyed on it are fetched again).
#[derive(Clone, Copy)]
pub struct Live {
    pub status: RwSignal<LiveStatus>,
    pub index_changed: RwSignal<u64>,
}

/// Listens to `/api/live` once the page runs in the browser (the browser reconnects by itself
/// when the server restarts).
pub fn use_live() -> Live {
    let live = Live { status: RwSignal::new(LiveStatus::default()), index_changed: RwSignal::new(0) };
    Effect::new(move |_| listen(live));
    live
}

#[cfg(feature = "hydrate")]
fn listen(live: Live) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let Ok(source) = web_sys::EventSource::new("/api/live") else { return };
    // The first event describes the index the page was rendered with.
    let mut first = true;
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let Some(text) = event.data().as_string() else { return };
        let Ok(next) = serde_json::from_str::<LiveStatus>(&text) else { return };
        if !first && live.status.get_untracked().version != next.version {
            live.index_changed.update(|n| *n += 1);
        }
        first = false;
        live.status.set(next);
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The page lives as long as the app: the listener and the connection stay.
    on_message.forget();
    std::mem::forget(source);
}

#[cfg(not(feature = "hydrate"))]
fn listen(_live: Live) {}

/// The progress line, shown while an indexing run is going on.
#[component]
pub fn IndexingProgress(live: Live) -> impl IntoView {
    let show_skipped = RwSignal::new(false);
    let skipped = LocalResource::new(move || {
        let wanted = show_skipped.get();
        // Asked again as more files are skipped while the list is open.
        let _ = live.status.with(|s| s.indexing.as_ref().map(|i| i.skipped));
        async move {
            match wanted {
                true => load_status(Some("1".into())).await.ok().and_then(|s| s.indexing).map(|i| i.skipped_files).unwrap_or_default(),
                false => Vec::new(),
            }
        }
    });
    let i18n = use_i18n();
    move || {
        let indexing = live.status.get().indexing?;
        let line = describe(&indexing, i18n.get_locale());
        let count = indexing.skipped;
        Some(view! {
            <section id="indexing" class="indexing" role="status" aria-live="polite">
                <progress max=indexing.total.max(1).to_string() value=indexing.done.to_string()></progress>
                <span class="indexing-line">{line}</span>
                {(count > 0).then(|| view! {
                    <button type="button" class="link skipped-toggle" on:click=move |_| show_skipped.update(|s| *s = !*s)>
                        {td_string!(i18n.get_locale(), skipped, count = count)}
                    </button>
                })}
                {move || show_skipped.get().then(|| view! {
                    <ul class="skipped-files">
                        {move || skipped.get().unwrap_or_default().into_iter().map(|f| view! {
                            <li><code>{f.path}</code>": "{f.reason}</li>
                        }).collect_view()}
                    </ul>
                })}
            </section>
        })
    }
}

/// "Indexing 120 of 500 images · 9.3 images/s · about 41 s left · in 2023/holidays".
fn describe(i: &Indexing, l: Locale) -> String {
    match i.phase.as_str() {
        phase @ ("embedding" | "reading words") => {
            let mut parts = vec![match phase {
                "embedding" => td_string!(l, indexing_progress, done = i.done, total = i.total),
                _ => td_string!(l, words_progress, done = i.done, total = i.total),
            }];
            if i.per_second > 0.0 {
                parts.push(td_string!(l, images_per_second, rate = format!("{:.1}", i.per_second)));
            }
            if let Some(left) = i.seconds_left {
                parts.push(td_string!(l, time_left, left = duration(left, l)));
            }
            if !i.folder.is_empty() {
                parts.push(td_string!(l, in_folder, folder = &i.folder));
            }
            parts.join(" · ")
        }
        "scanning" => td_string!(l, indexing_scanning).to_string(),
        _ => td_string!(l, indexing_updating).to_string(),
    }
}

fn duration(seconds: f64, l: Locale) -> String {
    match seconds.round() as u64 {
        s @ 0..=89 => td_string!(l, seconds, n = s),
        s @ 90..=5399 => td_string!(l, minutes, n = (s + 30) / 60),
        s => td_string!(l, hours_minutes, h = s / 3600, m = (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_says_how_far_how_fast_and_where() {
        let i = Indexing {
            phase: "embedding".into(),
            done: 120,
            total: 500,
            per_second: 9.26,
            seconds_left: Some(41.0),
            folder: "2023/holidays".into(),
            skipped: 0,
            skipped_files: Vec::new(),
        };
        assert_eq!(describe(&i, Locale::en), "Indexing 120 of 500 images · 9.3 images/s · about 41 s left · in 2023/holidays");
        assert_eq!(describe(&i, Locale::zh), "正在索引 500 张图片中的第 120 张 · 每秒 9.3 张 · 约剩 41 秒 · 位于 2023/holidays");
        assert_eq!(duration(3725.0, Locale::en), "62 min");
        assert_eq!(duration(7325.0, Locale::en), "2 h 2 min");
        assert_eq!(describe(&Indexing { phase: "scanning".into(), ..i.clone() }, Locale::en), "Indexing: looking for new and changed photos…");
        assert_eq!(describe(&Indexing { phase: "reading words".into(), ..i }, Locale::en), "Reading the words in 120 of 500 images · 9.3 images/s · about 41 s left · in 2023/holidays");
    }
}
