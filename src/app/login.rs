//! The sign-in page of a password-protected library, and the sign-out button. Both are plain
//! forms posted to the server's `/api/login` and `/api/logout` (they work before the page's code
//! has loaded, and the password never goes in a URL).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::i18n::*;

#[component]
pub fn LoginPage() -> impl IntoView {
    let hydrated = super::chrome::use_hydrated();
    let i18n = use_i18n();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".into());
    let failed = move || query.read().get("failed").is_some();
    let wait = move || query.read().get("wait").and_then(|w| w.parse::<u64>().ok());
    view! {
        <main class="page login" data-hydrated=move || hydrated.get().then_some("true")>
            <header class="masthead">
                <h1>"clipfind"</h1>
                <p class="tagline">{t!(i18n, login_tagline)}</p>
                <nav class="nav"><super::chrome::LanguageSwitch/></nav>
            </header>
            <form class="login-form" method="post" action="/api/login">
                <label for="password">{t!(i18n, password_label)}</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required autofocus/>
                <input type="hidden" name="next" value=next/>
                <button type="submit" id="sign-in">{t!(i18n, sign_in)}</button>
                {move || failed().then(|| view! { <p class="login-error" role="alert">{t!(i18n, wrong_password)}</p> })}
                {move || wait().map(|seconds| view! { <p class="login-error" role="alert">{t!(i18n, too_many_attempts, seconds = seconds)}</p> })}
            </form>
        </main>
    }
}

/// Ends this browser's session (shown when the page was opened signed in).
#[component]
pub fn SignOut() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <form class="sign-out" method="post" action="/api/logout">
            <button type="submit" id="sign-out" class="link">{t!(i18n, sign_out)}</button>
        </form>
    }
}
