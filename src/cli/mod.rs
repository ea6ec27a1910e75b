//! The `clipfind` command line: flags and environment variables with the same meaning.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};

use clipfind_engine::{library::{Library, LibraryConfig}, store::choice::StoreChoice, Device};

mod doctor;
mod duplicates_cmd;
mod embed;
mod eval;
mod index;
mod models_cmd;
mod progress;
mod search;
mod terminal;
mod token_cmd;

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

    /// How the server is reached and who may use it (also when serving with no subcommand).
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app (the default).
    Serve(ServeArgs),
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
    /// List groups of exact copies, near copies and bursts (never deletes anything).
    Duplicates(duplicates_cmd::DuplicatesArgs),
    /// Measure retrieval quality on a labelled set of images (recall@K, MRR).
    Eval(eval::EvalArgs),
    /// List installed models or download one.
    Models {
        #[command(subcommand)]
        action: models_cmd::ModelsAction,
    },
    /// Bearer tokens for scripts reading a password-protected library.
    Token {
        #[command(subcommand)]
        action: token_cmd::TokenAction,
    },
}

/// How the server is reached and who may use it.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Watch the data folder and index what changes in it in the background.
    #[arg(long, env = "CLIPFIND_WATCH")]
    pub watch: bool,

    /// File whose first line is the password (or its argon2 hash) every visitor must give;
    /// CLIPFIND_PASSWORD sets it too. Required to listen on an address other than loopback.
    #[arg(long, env = "CLIPFIND_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Another name the server may be reached by (addresses, localhost and this machine's
    /// name always work); repeat it or separate with commas.
    #[arg(long = "allow-host", env = "CLIPFIND_ALLOWED_HOSTS", value_name = "NAME", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Seconds a client may take to send a request's head, and a new connection its first byte
    /// (a real client sends them at once; a slowloris client dribbles them).
    #[arg(long, env = "CLIPFIND_HEADER_TIMEOUT", value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub header_timeout: Duration,

    /// Seconds a request's body may pause between two pieces before the request gets 408.
    #[arg(long, env = "CLIPFIND_BODY_TIMEOUT", value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    pub body_timeout: Duration,

    /// Seconds a request may take in all before it gets 408 (a search takes milliseconds; a
    /// 20 MB upload over a slow 3 Mbit/s link about 55 s).
    #[arg(long, env = "CLIPFIND_REQUEST_TIMEOUT", value_name = "SECONDS", default_value = "60", value_parser = seconds)]
    pub request_timeout: Duration,
}

/// A positive number of seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{text:?} is not a number of seconds between 0 and 86400")),
    }
}

impl ServeArgs {
    fn access(&self) -> crate::server::access::AccessConfig {
        crate::server::access::AccessConfig { password_file: self.password_file.clone(), allowed_hosts: self.allowed_hosts.clone(), index_dir: None }
    }

    fn timeouts(&self) -> crate::server::Timeouts {
        crate::server::Timeouts { header: self.header_timeout, body: self.body_timeout, request: self.request_timeout }
    }
}

/// Where the images, the index and the model are, and where the encoders run.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Folder of images to search; repeat it (or separate with `:`) for a library of several
    /// folders, searched together.
    #[arg(long, env = "CLIPFIND_DATA", global = true, value_name = "DIR", value_delimiter = ':')]
    pub data: Vec<PathBuf>,

    /// Folder holding the index [default: .clipfind in the first DATA folder].
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

    /// Folder of downloaded models (`clipfind models fetch`) and the bundled demo model.
    #[arg(long, env = "CLIPFIND_MODELS", global = true, value_name = "DIR", default_value = "models")]
    pub models_dir: PathBuf,

    /// Memory for decoding images at once, in MB (index workers, uploads and thumbnails share
    /// it; a larger image waits for room instead of adding to the peak).
    #[arg(long, env = "CLIPFIND_DECODE_MEMORY_MB", global = true, default_value_t = 2048, value_name = "MB")]
    pub decode_memory_mb: u64,

    /// The ONNX Runtime library (a file, or a folder holding one) [default: the one
    /// scripts/setup.sh installs, or one beside the executable].
    #[arg(long, env = "ORT_DYLIB_PATH", global = true, value_name = "PATH")]
    pub ort_library: Option<PathBuf>,

    /// Decode every image at full size, exactly as open_clip does, instead of decoding big
    /// JPEGs at 1/2-1/8 scale (short side kept at least twice the model's input).
    #[arg(long, env = "CLIPFIND_EXACT_DECODE", global = true)]
    pub exact_decode: bool,

    /// Encode queries with the model's int8 text encoder, when it has one (faster; images stay
    /// fp32, so indexes are unaffected).
    #[arg(long, env = "CLIPFIND_TEXT_INT8", global = true)]
    pub text_int8: bool,

    /// Index images with the model's int8 image encoder, when it has one that held the
    /// fidelity bar (`models/tools/quantize_image.py`): faster, and the index records it, so
    /// switching encoders re-embeds. Searching follows the encoder the index was made with.
    #[arg(long, env = "CLIPFIND_IMAGE_INT8", global = true)]
    pub image_int8: bool,

    /// Where the vectors live: `local` (FAISS in the index folder) or
    /// `milvus://[USER:PASSWORD@]HOST[:PORT]/COLLECTION[?index=flat|hnsw|ivf_flat]`. `index`
    /// records it (without the password), so later runs need only the index folder [default:
    /// the one the index records; local for a new index].
    #[arg(long, env = "CLIPFIND_STORE", global = true, value_name = "STORE")]
    pub store: Option<StoreChoice>,

    /// File whose first line is the Milvus password (CLIPFIND_MILVUS_PASSWORD sets it too):
    /// never put it in --store, where every user of the machine can read it in the process list.
    #[arg(long, env = "CLIPFIND_MILVUS_PASSWORD_FILE", global = true, value_name = "FILE")]
    pub milvus_password_file: Option<PathBuf>,
}

impl Settings {
    /// The engine's view of these settings. `use_index_model`: without --model, use the model
    /// an existing index was built with (searching) rather than the best installed (indexing).
    pub fn library_config(&self, use_index_model: bool) -> LibraryConfig {
        LibraryConfig {
            data: self.data.clone(),
            index: self.index.clone(),
            model: self.model.clone(),
            models_root: self.models_dir.clone(),
            device: self.device,
            threads: self.threads,
            use_index_model,
            runtime_library: self.ort_library.clone(),
            exact_decode: self.exact_decode,
            text_int8: self.text_int8,
            image_int8: self.image_int8,
            store: self.store(),
        }
    }

    /// The store, its Milvus password from the environment or the password file when given.
    fn store(&self) -> Option<StoreChoice> {
        let store = self.store.clone()?;
        let StoreChoice::Milvus(url) = store else { return Some(store) };
        if url.password.is_some() && std::env::args().any(|a| a.contains("milvus://") && a.contains('@')) {
            tracing::warn!("the Milvus password on the command line is visible to every user of this machine: use CLIPFIND_MILVUS_PASSWORD_FILE");
        }
        let file = self.milvus_password_file.as_deref();
        match url.clone().with_password_from_env(file) {
            Ok(url) => Some(StoreChoice::Milvus(url)),
            Err(e) => {
                tracing::error!("cannot read the Milvus password file: {e}");
                Some(StoreChoice::Milvus(url))
            }
        }
    }

    /// Opens the library (loads the model) as [`Settings::library_config`] describes.
    pub fn open_library(&self, use_index_model: bool) -> anyhow::Result<Library> {
        Ok(Library::open(self.library_config(use_index_model))?)
    }
}

pub fn main() -> ExitCode {
    clipfind_engine::runtime::openmp::ensure_passive_wait();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    clipfind_engine::clip::budget::set_budget(cli.settings.decode_memory_mb << 20);
    let result = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(serve) => crate::server::run(cli.settings.library_config(true), serve.watch, serve.access(), serve.timeouts()),
        Command::Doctor { json } => doctor::run(&cli.settings, json),
        Command::Index(args) => index::run(&cli.settings, &args),
        Command::Search(args) => search::run(&cli.settings, &args),
        Command::Embed(args) => embed::run(&cli.settings, &args),
        Command::Eval(args) => eval::run(&cli.settings, &args),
        Command::Duplicates(args) => duplicates_cmd::run(&cli.settings, &args),
        Command::Models { action } => models_cmd::run(&cli.settings, action),
        Command::Token { action } => token_cmd::run(&cli.settings, action),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", terminal::shown(&format!("{e:#}")));
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
        assert_eq!(cli.settings.library_config(true).index_dir(), Some(PathBuf::from("photos/.clipfind")));
        let cli = Cli::try_parse_from(["clipfind", "--data", "photos", "--index", "/tmp/i"]).unwrap();
        assert_eq!(cli.settings.library_config(true).index_dir(), Some(PathBuf::from("/tmp/i")));
    }

    #[test]
    fn several_data_folders_by_flag_or_colon() {
        let cli = Cli::try_parse_from(["clipfind", "--data", "photos", "--data", "phone"]).unwrap();
        assert_eq!(cli.settings.data, [PathBuf::from("photos"), PathBuf::from("phone")]);
        let cli = Cli::try_parse_from(["clipfind", "--data", "photos:phone"]).unwrap();
        assert_eq!(cli.settings.data, [PathBuf::from("photos"), PathBuf::from("phone")]);
        assert_eq!(cli.settings.library_config(true).index_dir(), Some(PathBuf::from("photos/.clipfind")));
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
    fn serve_options_work_with_and_without_the_subcommand() {
        let cli = Cli::try_parse_from(["clipfind", "--allow-host", "photos.home.arpa,nas", "--password-file", "pw"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.allowed_hosts, ["photos.home.arpa", "nas"]);
        let cli = Cli::try_parse_from(["clipfind", "serve", "--watch", "--password-file", "pw"]).unwrap();
        let Some(Command::Serve(serve)) = cli.command else { panic!("not serve") };
        assert!(serve.watch);
        assert_eq!(serve.password_file, Some(PathBuf::from("pw")));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
