//! The Leptos app: the HTML shell, the router and the pages. Compiled for both the server
//! (`ssr`) and the browser (`hydrate`).

pub mod chrome;
pub mod duplicates;
pub mod filters;
pub mod live;
pub mod login;
pub mod results;
mod routes;
pub mod search;
pub mod status;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod types;
pub mod upload;

pub use routes::{shell, App};
