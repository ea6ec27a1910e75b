//! The Leptos app: the HTML shell, the router and the pages. Compiled for both the server
//! (`ssr`) and the browser (`hydrate`).

pub mod duplicates;
pub mod filters;
pub mod live;
pub mod login;
pub mod results;
pub mod search;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod types;
pub mod upload;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::i18n::*;
use duplicates::DuplicatesPage;
use login::LoginPage;
use search::SearchPage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::set_page_policy(&options);
    view! {
        <!DOCTYPE html>
        // `lang` is the chosen language's, set by the i18n provider below.
        <html>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark light"/>
                <link rel="icon" href="/favicon.ico" sizes="any"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // English or Chinese: the cookie of an earlier choice, else the browser's Accept-Language
    // (read on the server, so the first paint is already in that language), else English.
    view! {
        <I18nContextProvider>
            <Stylesheet id="leptos" href="/pkg/clipfind.css"/>
            <Title text="clipfind"/>
            <Router>
                <Routes fallback=|| view! { <NotFound/> }>
                    // Async: the server waits for the results, so `/?q=...` renders them without JavaScript.
                    <Route path=StaticSegment("") view=SearchPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("duplicates") view=DuplicatesPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("login") view=LoginPage ssr=SsrMode::Async/>
                </Routes>
            </Router>
        </I18nContextProvider>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    let i18n = use_i18n();
    view! { <p class="not-found">{t!(i18n, page_not_found)}</p> }
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
