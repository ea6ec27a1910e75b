//! `clipfind embed`: the normalised CLIP vector of a text or an image, for scripts and checks.

use std::path::PathBuf;

use clap::Args;

use super::Settings;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "image"])))]
pub struct EmbedArgs {
    /// Text to embed.
    #[arg(long)]
    pub text: Option<String>,
    /// Image file to embed.
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Print a JSON object with the model name and the vector.
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, args: &EmbedArgs) -> anyhow::Result<()> {
    let library = settings.open_library(false)?;
    let clip = library.clip();
    let vector = match (&args.text, &args.image) {
        (Some(text), _) => clip.embed_text(text)?,
        (None, Some(path)) => clip.embed_image_file(path)?,
        (None, None) => unreachable!("clap requires --text or --image"),
    };
    if args.json {
        let out = serde_json::json!({
            "model": clip.spec().name,
            "dim": vector.len(),
            "embedding": vector,
        });
        println!("{out}");
    } else {
        let line: Vec<String> = vector.iter().map(|x| format!("{x:.7}")).collect();
        println!("{}", line.join(" "));
    }
    Ok(())
}
