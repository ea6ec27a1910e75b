//! `clipfind search`: ranked files for a text, an image, or an image already in the index.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::Args;

use super::Settings;
use super::terminal::shown;
use crate::app::types::Narrow;
use clipfind_engine::{
    catalog::filter::Filter,
    library::Library,
    search::searcher::{Matching, SearchParams, Searcher, Sort},
};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["query", "image", "like"])))]
pub struct SearchArgs {
    /// What to look for, in words.
    pub query: Option<String>,
    /// Find images like this image file.
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Find images like this one from the index (path relative to the data folder, or absolute).
    #[arg(long, value_name = "PATH")]
    pub like: Option<PathBuf>,
    /// How many results.
    #[arg(short, long, default_value_t = 30)]
    pub k: usize,
    /// Drop results less similar than this (cosine, -1 to 1).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub min_score: f32,
    /// Print a JSON array of {path, score, width, height, taken, camera, ...}; a video's hit has
    /// kind "video", timestamp, duration and its other matching moments.
    #[arg(long)]
    pub json: bool,
    /// Under each video, its other matching moments too.
    #[arg(long)]
    pub moments: bool,
    /// Only images whose recognised words match the query (the same as --match words).
    #[arg(long, conflicts_with = "matching")]
    pub ocr_only: bool,
    #[command(flatten)]
    pub narrow: Narrow,
}

/// The engine's filter and sort order for the filter options; a malformed value is an error
/// naming its option.
fn filter_and_sort(narrow: &Narrow) -> anyhow::Result<(Filter, Sort)> {
    let filter = Filter::from_params(|name| narrow.get(name))
        .map_err(|bad| anyhow!("--{}: {}", if bad.name == "folder" { "in" } else { bad.name }, bad.reason))?;
    let sort = narrow.sort.as_deref().unwrap_or_default().parse().map_err(|e: String| anyhow!("--sort: {e}"))?;
    Ok((filter, sort))
}

/// What `--match` (or `--ocr-only`) asks the query to be matched against.
fn matching(args: &SearchArgs) -> anyhow::Result<Matching> {
    match (args.ocr_only, args.narrow.matching.as_deref().map(str::trim)) {
        (true, _) | (_, Some("words")) => Ok(Matching::Words),
        (_, None | Some("all")) => Ok(Matching::Everything),
        (_, Some("pictures")) => Ok(Matching::Pictures),
        (_, Some(other)) => bail!("--match: '{other}' is not what a query can be matched against: use all, words or pictures"),
    }
}

pub fn run(settings: &Settings, args: &SearchArgs) -> anyhow::Result<()> {
    let config = settings.library_config(true);
    let index_dir = config.index_dir().context("which index? pass --data DIR or --index DIR")?;
    if !Searcher::exists(&index_dir) {
        bail!("no index in {}: build it with `clipfind index --data DIR`", index_dir.display());
    }
    let (filter, sort) = filter_and_sort(&args.narrow)?;
    let searcher = Library::open(config)?.searcher()?;
    let params = SearchParams { k: args.k, min_score: args.min_score, sort, matching: matching(args)?, ..Default::default() };
    let hits = match (&args.query, &args.image, &args.like) {
        (Some(q), _, _) => searcher.search_query(q, params, &filter, None)?,
        (_, Some(image), _) => searcher.search_image_file(image, params, &filter)?,
        (_, _, Some(like)) => {
            let id = searcher.id_of(like)?.with_context(|| format!("{} is not in the index", like.display()))?;
            searcher.similar_to(id, params, &filter)?
        }
        _ => unreachable!("clap requires one of query, --image, --like"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else if hits.is_empty() {
        eprintln!("no image is similar enough (--min-score {})", args.min_score);
    } else {
        for h in &hits {
            let mut name = match &h.folder {
                Some(folder) => format!("{}: {}", shown(folder), shown(&h.path)),
                None => shown(&h.path).into_owned(),
            };
            if let Some(t) = h.timestamp {
                name = format!("{name} @ {}", hms(t));
            }
            // Sorted by date, the dates are the point.
            match (sort, &h.taken) {
                (Sort::Relevance, _) | (_, None) => println!("{name} | similarity: {:.4}", h.score),
                (_, Some(taken)) => println!("{name} | similarity: {:.4} | taken {}", h.score, shown(&taken.replace('T', " "))),
            }
            if let Some(snippet) = h.words.as_ref().and_then(|w| w.snippet.as_ref()) {
                println!("    words: {}", shown(&marked(snippet)));
            }
            if args.moments {
                for m in &h.moments {
                    println!("    also @ {} | similarity: {:.4}", hms(m.timestamp), m.score);
                }
            }
        }
    }
    Ok(())
}

/// The snippet with its matches in brackets: `…the [INVOICE] [4711] total…`.
fn marked(snippet: &clipfind_engine::search::words::Snippet) -> String {
    let mut out = String::new();
    let mut at = 0;
    for &(start, end) in &snippet.marks {
        let (Some(before), Some(matched)) = (snippet.text.get(at..start), snippet.text.get(start..end)) else { continue };
        out.push_str(before);
        out.push('[');
        out.push_str(matched);
        out.push(']');
        at = end;
    }
    out.push_str(snippet.text.get(at..).unwrap_or_default());
    out
}

/// `00:01:23`: a video's moment as the CLI prints it.
fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).floor() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
