//! Who may see the library. Without a password the server answers only on loopback (it refuses
//! to start on another address); with one, every route but the sign-in page and the page's own
//! code needs one of: the session cookie the sign-in page sets, HTTP Basic with the password
//! (`-u clipfind:PASSWORD`), or a bearer token from `clipfind token create`. In both cases only
//! requests naming this server are answered (DNS rebinding), and state-changing requests must
//! come from its own pages.

mod attempts;
mod gate;
mod hosts;
mod login;
mod password;
mod replies;
mod request;
mod secret;
pub mod sessions;
pub mod tokens;

pub use gate::{named_hosts, signed_in, Access, AccessConfig};
pub use hosts::Hosts;
pub use login::routes;
pub use password::Password;
