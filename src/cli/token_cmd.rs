//! `clipfind token create [--name NAME] | list | revoke ID`: bearer tokens that let a script
//! read a password-protected library (`Authorization: Bearer TOKEN`) without the password.

use anyhow::{bail, Context};
use clap::Subcommand;

use super::terminal::shown;
use crate::server::access::tokens::TokenFile;

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token (printed once; only its digest is kept, in the index folder).
    Create {
        /// What the token is for, shown by `token list`.
        #[arg(long, default_value = "script")]
        name: String,
    },
    /// Show the tokens that work now (never the tokens themselves).
    List {
        /// Print a JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop a token from working, by the id `token list` shows.
    Revoke { id: String },
}

pub fn run(settings: &super::Settings, action: TokenAction) -> anyhow::Result<()> {
    let index = settings.library_config(true).index_dir().context("which library? pass --data DIR or --index DIR")?;
    let file = TokenFile::of_index(&index);
    match action {
        TokenAction::Create { name } => {
            let (record, token) = file.create(&name)?;
            eprintln!("token {} ({}) made; it is shown once, here:", record.id, shown(&record.name));
            println!("{token}");
            eprintln!("use it as: curl -H 'Authorization: Bearer {token}' http://HOST:PORT/api/search?q=...");
        }
        TokenAction::List { json: true } => println!("{}", serde_json::to_string_pretty(&file.list()?)?),
        TokenAction::List { json: false } => {
            let tokens = file.list()?;
            if tokens.is_empty() {
                println!("no tokens (make one with: clipfind token create --name NAME)");
            }
            for t in tokens {
                println!("{}  {:<5}  created {}  {}", t.id, format!("{:?}", t.scope).to_lowercase(), created(t.created), shown(&t.name));
            }
        }
        TokenAction::Revoke { id } => {
            if !file.revoke(&id)? {
                bail!("there is no token {} (see clipfind token list)", shown(&id));
            }
            eprintln!("token {} revoked: a running server refuses it from its next request", shown(&id));
        }
    }
    Ok(())
}

/// `2026-12-07 01:54 UTC` of a unix time.
fn created(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(|| unix.to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn creation_times_are_readable_dates() {
        assert_eq!(super::created(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::created(1_796_608_440), "2026-12-07 01:54 UTC");
    }
}
