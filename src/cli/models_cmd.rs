//! `clipfind models list [--available] | fetch NAME`.

use std::io::IsTerminal;

use clap::Subcommand;

use super::progress::Bar;
use clipfind_engine::{models::{self, fetch, ModelChoice}, support::progress::{Progress, Silent}};

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Show installed models and which one is used by default.
    List {
        /// Show the models `clipfind models fetch` can download instead, with their size,
        /// languages, quality and license.
        #[arg(long)]
        available: bool,
    },
    /// Download a model into the models folder (default: vit-b32, OpenAI CLIP ViT-B/32; see
    /// `models list --available`).
    Fetch {
        /// A curated model, or any Hub repository OWNER/NAME laid out as a clipfind model folder
        /// (a converted Chinese-CLIP, say) or as Immich's models are.
        #[arg(default_value = models::DEFAULT_FETCH, value_parser = known_model)]
        name: String,
        /// Repository revision (commit hash or branch) [default: the commit clipfind pins].
        #[arg(long)]
        revision: Option<String>,
        /// The Hugging Face Hub or a mirror of it.
        #[arg(long, env = "HF_ENDPOINT", default_value = fetch::DEFAULT_ENDPOINT)]
        endpoint: String,
        /// Download again even when an intact copy is installed.
        #[arg(long)]
        force: bool,
        /// Do not draw progress bars.
        #[arg(long)]
        quiet: bool,
    },
}

fn known_model(name: &str) -> Result<String, String> {
    models::Source::named(name).map(|_| name.to_string()).ok_or_else(|| {
        let names: Vec<&str> = models::DOWNLOADABLE.iter().map(|m| m.name).collect();
        format!("unknown model `{name}`; downloadable: {}, or a Hub repository OWNER/NAME", names.join(", "))
    })
}

pub fn run(settings: &super::Settings, action: ModelsAction) -> anyhow::Result<()> {
    let root = settings.models_dir.clone();
    match action {
        ModelsAction::List { available: true } => {
            print_available(&root);
            Ok(())
        }
        ModelsAction::List { available: false } => {
            let default = models::resolve(None, &root).ok();
            let installed = models::list(&root);
            if installed.is_empty() {
                println!("no models in {} (run `clipfind models fetch`)", root.display());
            }
            for model in installed {
                let mark = match &default {
                    Some((dir, choice)) if *dir == model.dir => match choice {
                        ModelChoice::Demo => "* (default, demo)",
                        _ => "* (default)",
                    },
                    _ => "",
                };
                let mb = model.size_bytes as f64 / 1e6;
                match &model.spec {
                    Ok(spec) => println!(
                        "{:<18} {:>8.1} MB  {}-d  {:<11}  {}  {mark}",
                        spec.name,
                        mb,
                        spec.embedding_dim,
                        if spec.family.is_empty() { "openai-clip" } else { &spec.family },
                        model.dir.display()
                    ),
                    Err(e) => println!("{:<18} BROKEN: {e}", model.dir.display()),
                }
            }
            Ok(())
        }
        ModelsAction::Fetch { name, revision, endpoint, force, quiet } => {
            let model = &models::Source::named(&name).expect("validated by clap");
            let request = fetch::FetchRequest { model, root: &root, endpoint: &endpoint, revision: revision.as_deref(), force };
            let progress: Box<dyn Progress> = if !quiet && std::io::stderr().is_terminal() { Box::new(Bar::bytes()) } else { Box::new(Silent) };
            eprintln!("fetching {} ({} at {}) from {endpoint}", model.name, model.repo, request.revision());
            match fetch::fetch(&request, progress.as_ref())? {
                fetch::Fetched::Installed(dir) => println!("installed {} in {}", model.name, dir.display()),
                fetch::Fetched::AlreadyInstalled(dir) => println!(
                    "{} is already installed and intact in {}; nothing downloaded (--force downloads it again)",
                    model.name,
                    dir.display()
                ),
            }
            Ok(())
        }
    }
}

/// The curated models, one per line, marking those already in `root`.
fn print_available(root: &std::path::Path) {
    println!("{:<46} {:>8}  {:<40} {:<34} LICENSE", "NAME", "SIZE", "LANGUAGES", "QUALITY");
    for model in models::DOWNLOADABLE {
        let installed = if clipfind_engine::clip::spec::ModelSpec::is_model_dir(&root.join(model.name)) { "  (installed)" } else { "" };
        println!(
            "{:<46} {:>5} MB  {:<40} {:<34} {}{installed}",
            model.name, model.size_mb, model.languages, model.quality, model.license
        );
        println!("    {} [{}]", model.description, model.repo);
    }
    println!("Quality: Crossmodal-3600 average recall (Immich's model table) and Flickr30k text-to-image recall@1 (open_clip).");
    println!("Switching models re-embeds every image: clipfind index --model NAME --rebuild-on-model-change");
}
