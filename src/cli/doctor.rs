//! `clipfind doctor`: load every native part, say what was found, fail if anything is unusable.

use std::path::PathBuf;

use serde::Serialize;

use super::Settings;
use clipfind_engine::{
    clip::formats,
    media::ocr::{self, OcrOptions, Reader},
    media::video,
    runtime::onnx,
    store::faiss_store as vectors,
};

#[derive(Debug, Serialize)]
struct DoctorReport {
    clipfind: &'static str,
    onnxruntime: Option<OnnxRuntimeReport>,
    onnxruntime_error: Option<String>,
    faiss: FaissReport,
    /// The ffmpeg version, or why videos cannot be indexed (not a failure: images still index).
    ffmpeg: String,
    /// Tesseract and its languages, or why the words in images cannot be read (not a failure).
    ocr: String,
    /// Still-image formats, each with whether it can be read here.
    formats: Vec<FormatReport>,
    device: String,
    data: Vec<PathBuf>,
    index: Option<PathBuf>,
    model: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct OnnxRuntimeReport {
    version: String,
    path: PathBuf,
    cuda: bool,
}

#[derive(Debug, Serialize)]
struct FormatReport {
    name: &'static str,
    readable: bool,
}

#[derive(Debug, Serialize)]
struct FaissReport {
    version: String,
    /// "passed", or why not.
    self_check: String,
}

/// Loads every native part and says what it found; fails when any part is unusable.
pub fn run(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let ort = onnx::load(settings.ort_library.as_deref());
    let report = DoctorReport {
        clipfind: env!("CARGO_PKG_VERSION"),
        onnxruntime: ort.as_ref().ok().map(|rt| OnnxRuntimeReport {
            version: rt.version.clone(),
            path: rt.path.clone(),
            cuda: rt.has_cuda(),
        }),
        onnxruntime_error: ort.as_ref().err().map(ToString::to_string),
        faiss: FaissReport {
            version: vectors::faiss_version(),
            self_check: vectors::self_check().map_or_else(|e| format!("failed: {e}"), |()| "passed".into()),
        },
        ffmpeg: video::ffmpeg_version().unwrap_or_else(|e| format!("not usable, videos are not indexed: {e}")),
        ocr: ocr_report(),
        formats: formats::readable().into_iter().map(|(name, readable)| FormatReport { name, readable }).collect(),
        device: settings.device.to_string(),
        data: settings.data.clone(),
        index: settings.library_config(true).index_dir(),
        model: settings.model.clone(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_doctor(&report);
    }
    if let Err(e) = ort {
        anyhow::bail!("ONNX Runtime is not usable: {e}");
    }
    if report.faiss.self_check != "passed" {
        anyhow::bail!("FAISS is not usable: self-check {}", report.faiss.self_check);
    }
    Ok(())
}

/// Tesseract loaded with the languages `clipfind index` would read with.
fn ocr_report() -> String {
    let mut options = OcrOptions::default();
    if let Some(data) = std::env::var_os("TESSDATA_PREFIX") {
        options.data = data.into();
    }
    if let Ok(languages) = std::env::var("CLIPFIND_OCR_LANGUAGES") {
        options.languages = languages;
    }
    match Reader::open(&options) {
        Ok(_) => format!("Tesseract {} with {} from {}", ocr::version(), options.languages, options.data.display()),
        Err(e) => format!("not usable, the words in images are not read: {e}"),
    }
}

fn print_doctor(r: &DoctorReport) {
    let shown = |p: &Option<PathBuf>| p.as_ref().map_or("(not set)".to_string(), |p| p.display().to_string());
    println!("clipfind {}", r.clipfind);
    match (&r.onnxruntime, &r.onnxruntime_error) {
        (Some(o), _) => {
            println!("ONNX Runtime {} ({})", o.version, o.path.display());
            let cuda = if o.cuda { "available" } else { "not in this ONNX Runtime build" };
            println!("  CUDA execution provider: {cuda}");
        }
        (None, Some(e)) => println!("ONNX Runtime: NOT LOADED: {e}"),
        (None, None) => println!("ONNX Runtime: NOT LOADED"),
    }
    println!("FAISS {} (static, self-check {})", r.faiss.version, r.faiss.self_check);
    println!("ffmpeg {}", r.ffmpeg);
    println!("OCR: {}", r.ocr);
    let named = |readable: bool| r.formats.iter().filter(|f| f.readable == readable).map(|f| f.name).collect::<Vec<_>>().join(", ");
    println!("image formats: {}", named(true));
    if r.formats.iter().any(|f| !f.readable) {
        println!("  NOT readable here (libheif lacks the decoder): {}", named(false));
    }
    println!("device: {}", r.device);
    let data: Vec<String> = r.data.iter().map(|d| d.display().to_string()).collect();
    println!("data:   {}", if data.is_empty() { "(not set)".to_string() } else { data.join(", ") });
    println!("index:  {}", shown(&r.index));
    println!("model:  {}", shown(&r.model));
}

