//! `clipfind models list | fetch`.

use std::io::IsTerminal;

use clap::Subcommand;

use crate::engine::models::{self, fetch, ModelChoice};

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Show installed models and which one is used by default.
    List,
    /// Download a model (default: vit-b32, OpenAI CLIP ViT-B/32 as ONNX) into the models folder.
    Fetch {
        /// Model to download.
        #[arg(default_value = models::DEFAULT_FETCH, value_parser = known_model)]
        name: String,
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

pub fn run(action: ModelsAction) -> anyhow::Result<()> {
    let root = models::models_root();
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
        ModelsAction::Fetch { name, quiet } => {
            let model = models::DOWNLOADABLE.iter().find(|m| m.name == name).expect("validated by clap");
            let endpoint = fetch::endpoint();
            eprintln!("fetching {} ({}) from {endpoint}", model.name, model.repo);
            let show = !quiet && std::io::stderr().is_terminal();
            let dir = fetch::fetch(model, &root, &endpoint, show)?;
            println!("installed {} in {}", model.name, dir.display());
            Ok(())
        }
    }
}
