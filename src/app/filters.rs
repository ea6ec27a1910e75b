//! The filter and sort controls under the search box. Each one is a URL parameter (see
//! [`Narrow`]): changing it adds a history entry, so the back button restores the previous
//! filters, and without JavaScript the form submits the same names.

use leptos::prelude::*;

use super::types::Narrow;

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
    let choice = move |name: &'static str, label: &'static str, options: &'static [(&'static str, &'static str)], field: Field| {
        view! {
            <label>{label}" "
                <select name=name on:change=edit(field)>
                    {options.iter().map(|(v, shown)| view! {
                        <option value=*v selected=move || value(field)() == *v>{*shown}</option>
                    }).collect_view()}
                </select>
            </label>
        }
    };
    let any_set = move || !narrow.get().pairs().is_empty();
    view! {
        <details class="filters" open=any_set>
            <summary>"Filters and order"</summary>
            <div class="filter-grid">
                {text("folder", "Folder", "2023/holidays", |n| &mut n.folder)}
                {date("after", "Taken from", |n| &mut n.after)}
                {date("before", "Taken before", |n| &mut n.before)}
                {text("camera", "Camera", "iphone", |n| &mut n.camera)}
                {choice("media", "Type", &[("", "any"), ("image", "photos"), ("video", "videos")], |n| &mut n.media)}
                {choice("orientation", "Orientation", &[("", "any"), ("landscape", "landscape"), ("portrait", "portrait"), ("square", "square")], |n| &mut n.orientation)}
                {choice("located", "Location", &[("", "any"), ("1", "has a location"), ("0", "no location")], |n| &mut n.located)}
                {choice("sort", "Order", &[("", "most similar"), ("newest", "newest first"), ("oldest", "oldest first")], |n| &mut n.sort)}
                <button type="button" class="clear-filters" on:click=clear disabled=move || !any_set()>"Clear filters"</button>
            </div>
        </details>
    }
}
