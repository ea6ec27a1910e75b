//! `clipfind duplicates`: groups of exact copies, near copies and bursts, largest first. It
//! reports; it never deletes or moves a file.

use anyhow::{bail, Context};
use clap::Args;

use super::Settings;
use super::terminal::shown;
use clipfind_engine::{
    library::Library,
    search::duplicates::{GroupKind, DEFAULT_BURST_SECONDS, DEFAULT_THRESHOLD},
    search::searcher::Searcher,
};

#[derive(Debug, Args)]
pub struct DuplicatesArgs {
    /// How alike two different files' embeddings must be to count as near copies (cosine, 0.8 to 1).
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Near copies whose EXIF capture times follow each other within this many seconds are a burst.
    #[arg(long, default_value_t = DEFAULT_BURST_SECONDS, value_name = "SECONDS")]
    pub burst_seconds: i64,
    /// Print a JSON array of groups: {kind, members: [{id, path, size, width, height, taken, hash, similarity, copies}]}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, args: &DuplicatesArgs) -> anyhow::Result<()> {
    let config = settings.library_config(true);
    let index_dir = config.index_dir().context("which index? pass --data DIR or --index DIR")?;
    if !Searcher::exists(&index_dir) {
        bail!("no index in {}: build it with `clipfind index --data DIR`", index_dir.display());
    }
    let searcher = Library::open(config)?.searcher()?;
    let started = std::time::Instant::now();
    let groups = searcher.duplicates(args.threshold, args.burst_seconds)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(());
    }
    for group in &groups {
        let kind = match group.kind {
            GroupKind::Exact => "exact copies",
            GroupKind::Near => "near copies",
            GroupKind::Burst => "burst",
        };
        println!("{kind} ({} files)", group.members.len());
        for m in &group.members {
            let taken = m.taken.as_deref().map(|t| format!(" | taken {}", shown(&t.replace('T', " ")))).unwrap_or_default();
            let copies = if m.copies > 0 { format!(" | {} exact copies", m.copies) } else { String::new() };
            println!("  {} | {}x{} | {} KB | similarity: {:.4}{taken}{copies}", shown(&m.path), m.width, m.height, m.size.div_ceil(1024), m.similarity);
        }
    }
    let files: usize = groups.iter().map(|g| g.members.len()).sum();
    eprintln!(
        "{} group{}, {files} files, among {} images (threshold {}, {:.1} s)",
        groups.len(),
        if groups.len() == 1 { "" } else { "s" },
        searcher.stats().images,
        args.threshold,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
