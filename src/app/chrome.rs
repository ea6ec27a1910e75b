//! What every page shares: the language switch, and the signal that says the page is hydrated.

use leptos::prelude::*;

use crate::i18n::*;

/// True once the page is hydrated (effects only run in the browser): browser tests wait for it.
pub fn use_hydrated() -> RwSignal<bool> {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    hydrated
}

/// The switch to the other language; the choice is kept in a cookie for later visits.
#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let other = move || match i18n.get_locale() {
        Locale::en => Locale::zh,
        Locale::zh => Locale::en,
    };
    view! {
        <button type="button" id="language" class="language" title=move || t_string!(i18n, switch_language_title)
            on:click=move |_| i18n.set_locale(other())>
            {t!(i18n, switch_language)}
        </button>
    }
}
