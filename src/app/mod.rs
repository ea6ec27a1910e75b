//! The Leptos app: the HTML shell, the router and the pages. Compiled for both the server
//! (`ssr`) and the browser (`hydrate`).

pub mod duplicates;
pub mod filters;
pub mod live;
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

use duplicates::DuplicatesPage;
use search::SearchPage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
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

    view! {
        <Stylesheet id="leptos" href="/pkg/clipfind.css"/>
        <Title text="clipfind"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                // Async: the server waits for the results, so `/?q=...` renders them without JavaScript.
                <Route path=StaticSegment("") view=SearchPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("duplicates") view=DuplicatesPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
