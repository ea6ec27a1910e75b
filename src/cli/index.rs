//! `clipfind index`: embed a folder of images into a persistent index.

use std::{io::IsTerminal, sync::Arc};

use clap::Args;

use super::{progress::Bar, Settings};
use super::terminal::shown;
use clipfind_engine::{
    ingest::indexer::{IndexOptions, Summary},
    media::ocr::OcrOptions,
    support::progress::{Progress, Silent},
};

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Images per vision encoder run.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Vector index type: "auto" (exact search up to --exact-up-to images, then IVF chosen by
    /// size with measured nprobe), or a FAISS factory string such as "Flat" (always exact) or
    /// "IVF1024,SQ8" [default: what the index already uses; "auto" for a new index].
    #[arg(long)]
    pub factory: Option<String>,
    /// With --factory auto: search exactly up to this many images, approximately above.
    #[arg(long, value_name = "N", default_value_t = clipfind_engine::store::policy::IndexPolicy::default().exact_up_to)]
    pub exact_up_to: u64,
    /// Skip files whose relative path or name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Drop the index and embed everything again (needed after changing models).
    #[arg(long)]
    pub rebuild: bool,
    /// Re-embed everything only if the index was built with a different model (for folders
    /// that should always follow the best installed model, like the bundled samples).
    #[arg(long, conflicts_with = "rebuild")]
    pub rebuild_on_model_change: bool,
    /// Commit progress every N embedded images, so an interrupted run resumes there.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub checkpoint: usize,
    /// Read every file's size and time, also in folders unchanged since the last run (finds
    /// photos rewritten in place under the same name; happens by itself once a day).
    #[arg(long)]
    pub full_scan: bool,
    /// Leave files modified less than this many seconds ago for a later run (watch mode uses it
    /// so that a copy still being written is not read half-way).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub settle: f64,
    /// Skip (with a reason) image files larger than this many MB, unread.
    #[arg(long, env = "CLIPFIND_MAX_FILE_MB", default_value_t = 256, value_name = "MB")]
    pub max_file_mb: u64,
    /// Do not write thumbnails for the web page.
    #[arg(long)]
    pub no_thumbnails: bool,
    /// Do not read the words in images (OCR); searches then match pictures and names only.
    #[arg(long)]
    pub no_ocr: bool,
    /// Tesseract's languages for the words in images, `+`-separated (eng, chi_sim, deu, ...).
    #[arg(long, env = "CLIPFIND_OCR_LANGUAGES", default_value = "eng+chi_sim", value_name = "LANGS")]
    pub ocr_languages: String,
    /// The folder of Tesseract's .traineddata models.
    #[arg(long, env = "TESSDATA_PREFIX", default_value = clipfind_engine::media::ocr::DEBIAN_TESSDATA, value_name = "DIR")]
    pub ocr_data: std::path::PathBuf,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(settings: &Settings, args: &IndexArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!settings.data.is_empty(), "`clipfind index` needs the image folder: --data DIR (or CLIPFIND_DATA)");
    let library = settings.open_library(false)?;
    let index_dir = library.index_dir().expect("data is set");
    let progress: Arc<dyn Progress> =
        if args.quiet || args.json || !std::io::stderr().is_terminal() { Arc::new(Silent) } else { Arc::new(Bar::items()) };
    let summary = library.index(|defaults| IndexOptions {
        batch: args.batch,
        factory: args.factory.clone(),
        policy: clipfind_engine::store::policy::IndexPolicy { exact_up_to: args.exact_up_to, ..Default::default() },
        exclude: args.exclude.clone(),
        rebuild: args.rebuild,
        rebuild_on_model_change: args.rebuild_on_model_change,
        checkpoint: args.checkpoint,
        full_scan: args.full_scan,
        settle: std::time::Duration::from_secs_f64(args.settle.max(0.0)),
        max_file_bytes: args.max_file_mb << 20,
        thumbnails: !args.no_thumbnails,
        ocr: (!args.no_ocr).then(|| OcrOptions { data: args.ocr_data.clone(), languages: args.ocr_languages.clone(), ..OcrOptions::default() }),
        progress,
        ..defaults
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !args.quiet {
        print_summary(&summary, &settings.data, &index_dir);
    }
    Ok(())
}

fn print_summary(s: &Summary, data: &[std::path::PathBuf], index_dir: &std::path::Path) {
    let folders: Vec<String> = data.iter().map(|d| shown(&d.display().to_string()).into_owned()).collect();
    println!("{} images indexed from {} (index in {})", s.total, folders.join(", "), shown(&index_dir.display().to_string()));
    println!(
        "  new {}  changed {}  unchanged {}  renamed {}  removed {}  duplicates {}  skipped {}",
        s.new,
        s.changed,
        s.unchanged,
        s.renamed,
        s.removed,
        s.duplicates,
        s.skipped.len()
    );
    for skip in s.skipped.iter().chain(&s.scan_problems) {
        println!("  skipped {}: {}", shown(&skip.path), shown(&skip.reason));
    }
    if let Some((count, why)) = &s.videos_waiting {
        println!("  {count} videos not indexed: {why}");
    }
    if s.words_read > 0 {
        println!("  words looked for in {} files, found in {}", s.words_read, s.with_words);
    }
    if let Some(why) = &s.words_not_read {
        println!("  the words in images were not read: {}", shown(why));
    }
    if s.remote_store.is_some() {
        println!("  vectors in {}: {} written, {} removed", s.vector_index.factory, s.uploaded, s.remote_deleted);
    }
    if s.embedded > 0 {
        let frames = if s.video_frames > 0 { format!(" ({} video frames among them)", s.video_frames) } else { String::new() };
        println!("  embedded {} files at {:.1} files/s{frames}; {:.1} s in all", s.embedded, s.images_per_second, s.seconds);
    } else {
        println!("  nothing to embed; {:.2} s in all", s.seconds);
    }
}
