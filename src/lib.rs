//! clipfind: semantic image search. CLIP embeddings through ONNX Runtime, vectors in FAISS,
//! a Leptos web app on top.
//!
//! The search engine is the `clipfind-engine` crate (engine/); the layers stack
//! engine <- [`app`] <- [`server`] <- [`cli`], each importing only those below it.
//!
//! - [`cli`]: the `clipfind` command line.
//! - [`server`]: the axum server that hosts the app.
//! - [`app`]: the Leptos pages and their server functions, shared by server and browser.

#![recursion_limit = "256"]

pub mod app;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
