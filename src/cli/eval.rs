//! `clipfind eval`: how well the pipeline retrieves the expected images of a labelled set.

use std::path::PathBuf;

use clap::Args;

use super::Settings;
use clipfind_engine::{
    library::{Library, LibraryConfig},
    search::evaluate::{self, EvalSet, Metrics},
};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folder of images with an eval.json (queries and their expected matches), and optionally
    /// eval-LANG.json files (queries in other languages, reported per language and kind). It is
    /// indexed into a temporary folder: --data and --index are not used.
    #[arg(long, value_name = "DIR", default_value = "samples/shapes")]
    pub set: PathBuf,
    /// Print the report as JSON (the format of models/*/reference-eval.json).
    #[arg(long)]
    pub json: bool,
}

/// Indexes the set from scratch into a temporary folder (never --index / CLIPFIND_INDEX: that is
/// the index of the user's own photos), then runs every query through the search the app uses.
pub fn run(settings: &Settings, args: &EvalArgs) -> anyhow::Result<()> {
    let set = EvalSet::load(&args.set)?;
    let clip = Library::open(LibraryConfig { data: Vec::new(), index: None, ..settings.library_config(false) })?.into_clip();
    let index_dir = tempfile::tempdir()?;
    let searcher = set.index(clip, index_dir.path())?;
    let report = evaluate::evaluate(&searcher, &set)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("model {} on {} ({} images)", searcher.stats().model, args.set.display(), report.images);
    println!("{:<16} {:>8} {:>9} {:>9} {:>10} {:>7} {:>12}", "", "queries", "recall@1", "recall@5", "recall@10", "MRR", "precision@5");
    print_row("text to image", &report.text_to_image);
    for (language, queries) in &report.languages {
        print_row(&format!("text ({language})"), &queries.text_to_image);
        for (kind, metrics) in &queries.by_kind {
            print_row(&format!("  {kind}"), metrics);
        }
    }
    print_row("image to image", &report.image_to_image);
    Ok(())
}

fn print_row(name: &str, m: &Metrics) {
    println!(
        "{name:<16} {:>8} {:>9.3} {:>9.3} {:>10.3} {:>7.3} {:>12.3}",
        m.queries, m.recall_at_1, m.recall_at_5, m.recall_at_10, m.mrr, m.precision_at_5
    );
}
