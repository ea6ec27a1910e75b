//! The HTML shell and the router: which page answers which path.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use super::{duplicates::DuplicatesPage, login::LoginPage, search::SearchPage};
use crate::i18n::*;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    super::ssr::set_page_policy(&options);
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
