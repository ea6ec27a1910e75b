//! Random secrets (session ids, tokens, salts) from the operating system, and their URL-safe
//! text.

use base64::Engine as _;

/// Random bytes from the operating system.
pub(super) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system has no random numbers");
    bytes
}

pub(super) fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
