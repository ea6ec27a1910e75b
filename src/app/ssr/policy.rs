//! The page's content security policy: it runs only its own code. The hydration script is
//! inline, so it carries a nonce made for each page, and the policy names that nonce.

use leptos::prelude::*;

/// The policy for a page whose inline scripts carry `nonce`. `'wasm-unsafe-eval'` lets the page
/// compile its own WebAssembly (nothing else is evaluated). `reload_port`: under `cargo leptos
/// watch`, the live-reload socket the page connects to.
pub fn page_policy(nonce: &str, reload_port: Option<u32>) -> String {
    let reload = reload_port.map(|port| format!(" ws://*:{port} wss://*:{port}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'{reload}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the page's policy on the response being rendered (call inside the shell, where the
/// server provided a nonce).
pub fn set_page_policy(options: &LeptosOptions) {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) else { return };
    // As Leptos' AutoReload decides whether the page opens the socket.
    let watching = std::env::var("LEPTOS_WATCH").is_ok();
    let reload_port = watching.then(|| options.reload_external_port.unwrap_or(options.reload_port));
    if let Ok(policy) = axum::http::HeaderValue::from_str(&page_policy(&nonce, reload_port)) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, policy);
    }
}
