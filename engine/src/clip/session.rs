//! ONNX Runtime sessions on the requested device, and the names of their inputs and outputs.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use ort::{
    ep,
    session::{builder::GraphOptimizationLevel, Session},
    value::ValueType,
};

use crate::{runtime::onnx, Device, EngineError, Result};


/// How to run the encoders.
#[derive(Debug, Clone, Default)]
pub struct ClipOptions {
    /// Where to run the encoders (`auto`: CUDA when usable, else the CPU).
    pub device: Device,
    /// Intra-op threads per session; 0 lets ONNX Runtime decide.
    pub threads: usize,
    /// The ONNX Runtime library (the first one loaded serves the whole process); `None` looks
    /// in the usual places.
    pub runtime_library: Option<PathBuf>,
    /// Decode every image at full size, as open_clip does, instead of decoding big JPEGs at a
    /// DCT scale (1/2 to 1/8) that keeps their short side at least twice the input size.
    pub exact_decode: bool,
    /// Encode queries with the model's int8 text encoder when it has one (see
    /// [`super::spec::TextSpec::int8_file`]).
    pub text_int8: bool,
    /// Encode images with the model's int8 image encoder when it has one that held the fidelity
    /// bar (see [`super::spec::VisionSpec::int8_file`]); the index records which encoder it is.
    pub image_int8: bool,
}

/// Where a session actually runs, after `auto` is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the CPU.
    Cpu,
    /// On the CUDA device with this index.
    Cuda(u32),
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Cpu => f.write_str("cpu"),
            Placement::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// A session plus what was learnt from it. `run` needs `&mut`, hence the mutex.
pub struct LoadedSession {
    /// The ONNX Runtime session; take it with [`LoadedSession::lock`].
    pub session: Mutex<Session>,
    /// Where the session runs.
    pub placement: Placement,
}

pub(super) fn inference_error(stage: &'static str) -> impl Fn(String) -> EngineError {
    move |reason| EngineError::Inference { stage, reason }
}

/// Whether a session's idle worker threads spin-wait for the next operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spin {
    /// Spin: back-to-back runs (indexing) lose no time waking threads.
    Yes,
    /// Sleep: a server's text queries share the cores with FAISS and other requests, which a
    /// spinning pool would take from them between queries.
    No,
}

/// Opens `path` on the device with the intra-op threads `options` ask for (0: ONNX Runtime's choice).
pub fn open(path: &Path, options: &ClipOptions, spin: Spin) -> Result<LoadedSession> {
    let (device, threads) = (options.device, options.threads);
    let rt = onnx::load(options.runtime_library.as_deref())?;
    let model_error = |reason: String| EngineError::Model { path: path.to_path_buf(), reason };
    if !path.is_file() {
        return Err(model_error("file not found".into()));
    }
    let wants_cuda = match device {
        Device::Cpu => None,
        Device::Cuda(n) => {
            if !rt.has_cuda() {
                return Err(EngineError::Device(format!(
                    "cuda:{n} was asked for, but the ONNX Runtime at {} has no CUDA support \
                     (use the onnxruntime-gpu library through ORT_DYLIB_PATH, or --device cpu)",
                    rt.path.display()
                )));
            }
            Some(n)
        }
        Device::Auto => rt.has_cuda().then_some(0),
    };
    let build = |cuda: Option<u32>| -> std::result::Result<Session, String> {
        let mut builder = Session::builder(&rt.environment)
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::All).map_err(Into::into))
            .map_err(|e| e.to_string())?;
        if threads > 0 {
            builder = builder.with_intra_threads(threads).map_err(|e| e.to_string())?;
        }
        if spin == Spin::No {
            builder = builder.with_intra_op_spinning(false).map_err(|e| e.to_string())?;
        }
        if let Some(n) = cuda {
            let cuda = ep::CUDA::default().with_device_id(n as i32).build().error_on_failure();
            builder = builder.with_execution_providers([cuda]).map_err(|e| e.to_string())?;
        }
        builder.commit_from_file(path).map_err(|e| e.to_string())
    };
    let (session, placement) = match (device, wants_cuda) {
        (_, None) => (build(None).map_err(model_error)?, Placement::Cpu),
        (Device::Auto, Some(n)) => match build(Some(n)) {
            Ok(s) => (s, Placement::Cuda(n)),
            Err(e) => {
                tracing::warn!("CUDA is present but unusable ({e}); running on the CPU");
                (build(None).map_err(model_error)?, Placement::Cpu)
            }
        },
        (_, Some(n)) => (
            build(Some(n)).map_err(|e| EngineError::Device(format!("cannot run on cuda:{n}: {e}")))?,
            Placement::Cuda(n),
        ),
    };
    Ok(LoadedSession { session: Mutex::new(session), placement })
}

impl LoadedSession {
    /// Names of the model's inputs.
    pub fn input_names(&self) -> Vec<String> {
        self.lock().inputs().iter().map(|i| i.name().to_string()).collect()
    }

    /// The element type of the input `name`, when it is a tensor.
    pub fn input_type(&self, name: &str) -> Option<ort::value::TensorElementType> {
        self.lock().inputs().iter().find(|i| i.name() == name).and_then(|i| i.dtype().tensor_type())
    }

    /// The dimensions of the input `name` (-1 where any size goes), when it is a tensor.
    pub fn input_dims(&self, name: &str) -> Option<Vec<i64>> {
        self.lock().inputs().iter().find(|i| i.name() == name).and_then(|i| i.dtype().tensor_shape()).map(|s| s.to_vec())
    }

    /// Names of the model's outputs, each with its tensor rank (0 when not a tensor).
    pub fn output_names(&self) -> Vec<(String, usize)> {
        self.lock()
            .outputs()
            .iter()
            .map(|o| (o.name().to_string(), rank(o.dtype())))
            .collect()
    }

    /// Locks the session for a run, recovering it when an earlier holder panicked.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic inside ONNX Runtime's run cannot leave the session half-updated.
        self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn rank(dtype: &ValueType) -> usize {
    dtype.tensor_shape().map_or(0, |s| s.len())
}

/// The name to use: the declared one if the model has it, else the first that `fits`.
pub fn pick_name(
    declared: Option<&str>,
    available: &[(String, usize)],
    fits: impl Fn(&str, usize) -> bool,
) -> Option<String> {
    declared
        .filter(|d| available.iter().any(|(n, _)| n == d))
        .map(str::to_string)
        .or_else(|| available.iter().find(|(n, r)| fits(n, *r)).map(|(n, _)| n.clone()))
}

