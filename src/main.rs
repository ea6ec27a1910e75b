#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    clipfind::cli::main()
}

// The browser build has no binary: see `hydrate` in lib.rs.
#[cfg(not(feature = "ssr"))]
fn main() {}
