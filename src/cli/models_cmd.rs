//! `clipfind models list | fetch`.

use std::io::IsTerminal;

use clap::Subcommand;

use super::progress::Bar;
use clipfind_engine::{
    models::{self, fetch, ModelChoice},
    progress::{Progress, Silent},
};

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Show installed models and which one is used by default.
    List,
    /// Download a model (default: vit-b32, OpenAI CLIP ViT-B/32 as ONNX) into the models folder.
    Fetch {
        /// Model to download.
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
    models::DOWNLOADABLE.iter().find(|m| m.name == name).map(|m| m.name.to_string()).ok_or_else(|| {
        let names: Vec<&str> = models::DOWNLOADABLE.iter().map(|m| m.name).collect();
        format!("unknown model `{name}`; downloadable: {}", names.join(", "))
    })
}

pub fn run(settings: &super::Settings, action: ModelsAction) -> anyhow::Result<()> {
    let root = settings.models_dir.clone();
    match action {
        ModelsAction::List => {
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
                        "{:<18} {:>8.1} MB  {}-d  {}  {mark}",
                        spec.name, mb, spec.embedding_dim, model.dir.display()
                    ),
                    Err(e) => println!("{:<18} BROKEN: {e}", model.dir.display()),
                }
            }
            Ok(())
        }
        ModelsAction::Fetch { name, revision, endpoint, force, quiet } => {
            let model = models::DOWNLOADABLE.iter().find(|m| m.name == name).expect("validated by clap");
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
