//! `clipfind search`: ranked files for a text, an image, or an image already in the index.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::Settings;
use clipfind_engine::{
    library::Library,
    searcher::{SearchParams, Searcher},
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
    /// Print a JSON array of {path, score, width, height}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, args: &SearchArgs) -> anyhow::Result<()> {
    let config = settings.library_config(true);
    let index_dir = config.index_dir().context("which index? pass --data DIR or --index DIR")?;
    if !Searcher::exists(&index_dir) {
        bail!("no index in {}: build it with `clipfind index --data DIR`", index_dir.display());
    }
    let searcher = Library::open(config)?.searcher()?;
    let params = SearchParams { k: args.k, min_score: args.min_score };
    let hits = match (&args.query, &args.image, &args.like) {
        (Some(q), _, _) => searcher.search_text(q, params)?,
        (_, Some(image), _) => searcher.search_image_file(image, params)?,
        (_, _, Some(like)) => {
            let id = searcher.id_of(like)?.with_context(|| format!("{} is not in the index", like.display()))?;
            searcher.similar_to(id, params)?
        }
        _ => unreachable!("clap requires one of query, --image, --like"),
    };
    if args.json {
        #[derive(serde::Serialize)]
        struct JsonHit<'a> {
            path: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            folder: Option<&'a str>,
            score: f32,
            width: u32,
            height: u32,
        }
        let out: Vec<JsonHit<'_>> =
            hits.iter().map(|h| JsonHit { path: &h.path, folder: h.folder.as_deref(), score: h.score, width: h.width, height: h.height }).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if hits.is_empty() {
        eprintln!("no image is similar enough (--min-score {})", args.min_score);
    } else {
        for h in &hits {
            match &h.folder {
                Some(folder) => println!("{folder}: {} | similarity: {:.4}", h.path, h.score),
                None => println!("{} | similarity: {:.4}", h.path, h.score),
            }
        }
    }
    Ok(())
}
