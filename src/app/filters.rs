//! The filter and sort controls under the search box. Each one is a URL parameter (see
//! [`Narrow`]): changing it adds a history entry, so the back button restores the previous
//! filters, and without JavaScript the form submits the same names.

use leptos::prelude::*;

use super::types::Narrow;
use crate::i18n::*;

/// Which field of [`Narrow`] a control edits.
type Field = fn(&mut Narrow) -> &mut Option<String>;

/// The controls for `narrow`; `set` is called with the edited filters.
#[component]
pub fn FilterControls(narrow: Signal<Narrow>, set: impl Fn(Narrow) + Clone + Send + Sync + 'static) -> impl IntoView {
    // Copy, so that every control's handler can hold it.
    let set = Callback::new(set);
    let value = move |field: Field| move || field(&mut narrow.get()).clone().unwrap_or_default();
    let edit = move |field: Field| {
        move |ev: leptos::ev::Event| {
            let mut next = narrow.get_untracked();
            let text = event_target_value(&ev);
            *field(&mut next) = Some(text).filter(|t| !t.trim().is_empty());
            set.run(next);
        }
    };
    let clear = move |_| set.run(Narrow::default());
    let i18n = use_i18n();
    let text = move |name: &'static str, label: &'static str, placeholder: &'static str, field: Field| {
        view! {
            <label>{label}" "
                <input name=name type="text" placeholder=placeholder autocomplete="off" spellcheck="false"
                    value=value(field)() prop:value=value(field) on:change=edit(field)/>
            </label>
        }
    };
    let date = move |name: &'static str, label: &'static str, field: Field| {
        view! {
            <label>{label}" "
                <input name=name type="date" value=value(field)() prop:value=value(field) on:change=edit(field)/>
            </label>
        }
    };
    let choice = move |name: &'static str, label: &'static str, options: Vec<(&'static str, &'static str)>, field: Field| {
        view! {
            <label>{label}" "
                <select name=name on:change=edit(field)>
                    {options.into_iter().map(|(v, shown)| view! {
                        <option value=v selected=move || value(field)() == v>{shown}</option>
                    }).collect_view()}
                </select>
            </label>
        }
    };
    let any_set = move || !narrow.get().pairs().is_empty();
    // The controls are rebuilt in the new language when it changes.
    let controls = move || {
        let l = i18n.get_locale();
        view! {
            {text("folder", td_string!(l, folder), td_string!(l, folder_example), |n| &mut n.folder)}
            {date("after", td_string!(l, taken_from), |n| &mut n.after)}
            {date("before", td_string!(l, taken_before), |n| &mut n.before)}
            {text("camera", td_string!(l, camera), "iphone", |n| &mut n.camera)}
            {choice("media", td_string!(l, media_type), vec![("", td_string!(l, any)), ("image", td_string!(l, photos)), ("video", td_string!(l, videos))], |n| &mut n.media)}
            {choice("orientation", td_string!(l, orientation), vec![("", td_string!(l, any)), ("landscape", td_string!(l, landscape)), ("portrait", td_string!(l, portrait)), ("square", td_string!(l, square))], |n| &mut n.orientation)}
            {choice("located", td_string!(l, location), vec![("", td_string!(l, any)), ("1", td_string!(l, has_location)), ("0", td_string!(l, no_location))], |n| &mut n.located)}
            {choice("match", td_string!(l, match_against), vec![("", td_string!(l, match_all)), ("words", td_string!(l, match_words)), ("pictures", td_string!(l, match_pictures))], |n| &mut n.matching)}
            {choice("sort", td_string!(l, order), vec![("", td_string!(l, most_similar)), ("newest", td_string!(l, newest_first)), ("oldest", td_string!(l, oldest_first))], |n| &mut n.sort)}
        }
    };
    view! {
        <details class="filters" open=any_set>
            <summary>{t!(i18n, filters_and_order)}</summary>
            <div class="filter-grid">
                {controls}
                <button type="button" class="clear-filters" on:click=clear disabled=move || !any_set()>{t!(i18n, clear_filters)}</button>
            </div>
        </details>
    }
}
