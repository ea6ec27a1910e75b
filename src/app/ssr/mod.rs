//! Server-only helpers of the app's server functions (as in Leptos' `todo_app_sqlite_axum`):
//! the state the server loads once and shares, and how engine answers become replies.

mod policy;
mod reply;
mod state;

pub use policy::set_page_policy;
pub use reply::{api_error, app_state, signed_in_by_session, upload_turn, Principal, check_upload_pixels, reply, search_filter, search_params, to_duplicate_group};
pub use state::{AppState, Loaded};
