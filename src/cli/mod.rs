//! The `clipfind` command line: flags and environment variables with the same meaning.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

use crate::engine::{
    clip::{Clip, ClipOptions},
    models::{self, ModelChoice},
    Device,
};

mod doctor;
mod embed;
mod eval;
mod index;
mod models_cmd;
mod progress;
mod search;

#[derive(Debug, Parser)]
#[command(
    name = "clipfind",
    version,
    about = "Semantic image search: type what you are looking for, see your matching photos.",
    long_about = "Semantic image search: type what you are looking for, see your matching photos.\n\n\
        With no subcommand, clipfind serves the web app on LEPTOS_SITE_ADDR (default 127.0.0.1:3000).",
    after_help = "Every option can also be set through the environment variable shown beside it."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app (the default).
    Serve,
    /// Check the installation: load ONNX Runtime and FAISS and report their versions.
    Doctor {
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Embed a folder of images into a persistent index (only what changed since last time).
    Index(index::IndexArgs),
    /// Print the indexed images that best match a text, an image, or an indexed image.
    Search(search::SearchArgs),
    /// Print the normalised CLIP embedding of a text or an image.
    Embed(embed::EmbedArgs),
    /// Measure retrieval quality on a labelled set of images (recall@K, MRR).
    Eval(eval::EvalArgs),
    /// List installed models or download one.
    Models {
        #[command(subcommand)]
        action: models_cmd::ModelsAction,
    },
}

/// Where the images, the index and the model are, and where the encoders run.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Folder of images to search.
    #[arg(long, env = "CLIPFIND_DATA", global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Folder holding the index [default: DATA/.clipfind].
    #[arg(long, env = "CLIPFIND_INDEX", global = true, value_name = "DIR")]
    pub index: Option<PathBuf>,

    /// Model folder (text.onnx, vision.onnx, tokenizer.json, clipfind-model.json).
    #[arg(long, env = "CLIPFIND_MODEL", global = true, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Where the encoders run: cpu, cuda, cuda:N or auto.
    #[arg(long, env = "CLIPFIND_DEVICE", global = true, default_value = "auto")]
    pub device: Device,

    /// Threads per encoder (0: one per core).
    #[arg(long, env = "CLIPFIND_THREADS", global = true, default_value_t = 0)]
    pub threads: usize,
}

impl Settings {
    /// The index folder: the one given, else `.clipfind` inside the data folder.
    pub fn index_dir(&self) -> Option<PathBuf> {
        self.index.clone().or_else(|| self.data.as_ref().map(|d| d.join(".clipfind")))
    }

    /// Loads the model to use, telling the user which one and why.
    pub fn load_model(&self) -> anyhow::Result<Clip> {
        self.load_model_for(None)
    }

    /// As [`Settings::load_model`]; for an existing index without a configured model, the model
    /// the index was built with.
    pub fn load_model_for(&self, index_dir: Option<&std::path::Path>) -> anyhow::Result<Clip> {
        let recorded = match (&self.model, index_dir) {
            (None, Some(dir)) => crate::engine::catalog::Catalog::open_read_only(dir)
                .ok()
                .and_then(|c| c.meta("model_dir").ok().flatten())
                .map(PathBuf::from)
                .filter(|d| d.join(crate::engine::clip::spec::SPEC_FILE).is_file()),
            _ => None,
        };
        let (dir, choice) = match recorded {
            Some(dir) => (dir, ModelChoice::Configured),
            None => models::resolve(self.model.as_deref(), &models::models_root())?,
        };
        match choice {
            ModelChoice::Demo => tracing::warn!(
                "using the bundled demo model ({}): it only knows a synthetic world of shapes; \
                 run `clipfind models fetch` for real photos",
                dir.display()
            ),
            ModelChoice::Fetched | ModelChoice::Configured => tracing::debug!("model: {}", dir.display()),
        }
        let clip = Clip::load(&dir, ClipOptions { device: self.device, threads: self.threads })?;
        if self.device == Device::Auto {
            tracing::info!("device auto: running on {}", clip.placement());
        }
        Ok(clip)
    }
}

pub fn main() -> ExitCode {
    crate::engine::openmp::ensure_passive_wait();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::server::run(cli.settings),
        Command::Doctor { json } => doctor::run(&cli.settings, json),
        Command::Index(args) => index::run(&cli.settings, &args),
        Command::Search(args) => search::run(&cli.settings, &args),
        Command::Embed(args) => embed::run(&cli.settings, &args),
        Command::Eval(args) => eval::run(&cli.settings, &args),
        Command::Models { action } => models_cmd::run(action),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "clipfind=info,warn",
        1 => "clipfind=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_defaults_inside_the_data_folder() {
        let cli = Cli::try_parse_from(["clipfind", "--data", "photos"]).unwrap();
        assert_eq!(cli.settings.index_dir(), Some(PathBuf::from("photos/.clipfind")));
        let cli = Cli::try_parse_from(["clipfind", "--data", "photos", "--index", "/tmp/i"]).unwrap();
        assert_eq!(cli.settings.index_dir(), Some(PathBuf::from("/tmp/i")));
    }

    #[test]
    fn a_bad_device_is_a_usage_error() {
        let err = Cli::try_parse_from(["clipfind", "--device", "tpu", "doctor"]).unwrap_err();
        assert!(err.to_string().contains("expected cpu, cuda, cuda:N or auto"), "{err}");
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["clipfind", "doctor", "--device", "cuda:1"]).unwrap();
        assert_eq!(cli.settings.device, Device::Cuda(1));
        assert!(matches!(cli.command, Some(Command::Doctor { json: false })));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
