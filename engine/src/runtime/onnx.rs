//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`, so the library is opened at run time. `scripts/setup.sh`
//! puts the pinned build in the user cache folder; this module finds it there without any
//! variable set by hand (an explicit path, which the CLI takes from `ORT_DYLIB_PATH`, wins).

use std::{
    ffi::CStr,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use crate::{EngineError, Result};

/// The ONNX Runtime release the `api-31` feature of `ort` is built against.
pub const PINNED_VERSION: &str = "1.31.1";
const LIBRARY_PREFIX: &str = "libonnxruntime.so";

/// A loaded ONNX Runtime: where it came from and what it is.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The shared library file it was loaded from.
    pub path: PathBuf,
    /// The library's own version string (e.g. `1.31.1`).
    pub version: String,
    /// The process-wide ONNX Runtime environment that sessions are built in.
    pub environment: ort::environment::Environment,
}

impl Runtime {
    /// Whether this ONNX Runtime build carries the CUDA execution provider.
    pub fn has_cuda(&self) -> bool {
        use ort::ep::ExecutionProvider;
        ort::ep::CUDA::is_available().unwrap_or(false)
    }
}

/// The folder `scripts/setup.sh` installs the library into.
pub fn cache_dir() -> Option<PathBuf> {
    Some(dirs::cache_dir()?.join("clipfind").join("onnxruntime"))
}

/// Loads ONNX Runtime once per process and returns it; later calls return the same one.
/// `explicit` (a file, or a folder holding one) is used when given, else [`locate`] searches.
pub fn load(explicit: Option<&Path>) -> Result<&'static Runtime> {
    static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| init(explicit).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| match locate(explicit) {
            Ok(path) => EngineError::RuntimeLoad { path, reason: reason.clone() },
            Err(not_found) => not_found,
        })
}

fn init(explicit: Option<&Path>) -> Result<Runtime> {
    let path = locate(explicit)?;
    let load_err = |reason: String| EngineError::RuntimeLoad { path: path.clone(), reason };
    let version = library_version(&path).map_err(load_err)?;
    let environment = ort::init_from(&path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("clipfind")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    tracing::debug!(path = %path.display(), %version, "ONNX Runtime loaded");
    Ok(Runtime { path, version, environment })
}

/// Where the library is: the explicit path, the setup cache, or beside the executable.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut searched = Vec::new();
    if let Some(explicit) = explicit {
        // An explicit setting that points nowhere is an error, not a reason to guess.
        return if explicit.is_file() {
            Ok(explicit.to_path_buf())
        } else {
            find_in(explicit).ok_or(EngineError::RuntimeNotFound {
                searched: format!("ORT_DYLIB_PATH={}", explicit.display()),
            })
        };
    }
    let beside_exe = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    for dir in [cache_dir(), beside_exe].into_iter().flatten() {
        if let Some(found) = find_in(&dir) {
            return Ok(found);
        }
        searched.push(dir.display().to_string());
    }
    Err(EngineError::RuntimeNotFound { searched: searched.join(", ") })
}

/// The best library file in `dir`: the pinned version first, then any other.
fn find_in(dir: &Path) -> Option<PathBuf> {
    let pinned = dir.join(format!("{LIBRARY_PREFIX}.{PINNED_VERSION}"));
    if pinned.is_file() {
        return Some(pinned);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(LIBRARY_PREFIX))
        })
        .collect();
    candidates.sort();
    candidates.pop()
}

/// Reads the version string straight from the library, so a wrong build gets a precise message.
fn library_version(path: &Path) -> std::result::Result<String, String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: loading ONNX Runtime runs its initialisers only; the symbol's type is the C API's.
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| e.to_string())?;
        let get_base: libloading::Symbol<GetApiBase> =
            lib.get(b"OrtGetApiBase").map_err(|_| "not an ONNX Runtime library".to_string())?;
        let base = get_base();
        if base.is_null() {
            return Err("OrtGetApiBase returned null".into());
        }
        let version = CStr::from_ptr(((*base).GetVersionString)()).to_string_lossy().into_owned();
        // Keep the library mapped: ort opens the same file and shares this mapping.
        std::mem::forget(lib);
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_in_prefers_the_pinned_version() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["libonnxruntime.so.1.99.0", &format!("libonnxruntime.so.{PINNED_VERSION}"), "other.so"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let found = find_in(dir.path()).unwrap();
        assert!(found.ends_with(format!("libonnxruntime.so.{PINNED_VERSION}")));
    }

    #[test]
    fn find_in_takes_any_version_when_the_pinned_one_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libonnxruntime.so.1.32.0"), b"").unwrap();
        std::fs::write(dir.path().join("README"), b"").unwrap();
        assert!(find_in(dir.path()).unwrap().ends_with("libonnxruntime.so.1.32.0"));
        assert!(find_in(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn a_file_that_is_not_onnx_runtime_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libonnxruntime.so.1.31.1");
        std::fs::write(&fake, b"not a library").unwrap();
        assert!(library_version(&fake).is_err());
    }
}
