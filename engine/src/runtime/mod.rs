//! Where the encoders run: the ONNX Runtime library, the device (CPU or CUDA) and the OpenMP
//! threads FAISS searches with.

pub mod device;
pub mod onnx;
pub mod openmp;
