//! Where the encoders run: `cpu`, `cuda`, `cuda:N`, or `auto` (CUDA when present, else CPU).

use std::{fmt, str::FromStr};

use crate::EngineError;

/// Where the user asks the encoders to run; parsed from and shown as `auto`, `cpu` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CUDA device 0 when ONNX Runtime has CUDA and it works, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The CUDA device with this index; an error when it cannot be used.
    Cuda(u32),
}

impl FromStr for Device {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| EngineError::InvalidDevice(s.to_string())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Auto => f.write_str("auto"),
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        assert_eq!("auto".parse::<Device>().unwrap(), Device::Auto);
        assert_eq!("CPU".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
    }

    #[test]
    fn rejects_nonsense_with_a_clear_message() {
        for bad in ["", "tpu", "cuda:", "cuda:x", "cuda:-1"] {
            let err = bad.parse::<Device>().unwrap_err().to_string();
            assert!(err.contains("expected cpu, cuda, cuda:N or auto"), "{bad}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for d in [Device::Auto, Device::Cpu, Device::Cuda(0), Device::Cuda(7)] {
            assert_eq!(d.to_string().parse::<Device>().unwrap(), d);
        }
    }
}
