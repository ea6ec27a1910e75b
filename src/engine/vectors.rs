//! The vector store, backed by FAISS (built from source and linked statically).

use std::ffi::CStr;

use faiss::{index::ConcurrentIndex, FlatIndex, IdMap, Idx, Index};

use super::Result;

/// The FAISS library version this binary links, as FAISS itself reports it.
pub fn faiss_version() -> String {
    // SAFETY: returns a pointer to a static, NUL-terminated string inside FAISS.
    unsafe { CStr::from_ptr(faiss_sys::faiss_get_version()) }.to_string_lossy().into_owned()
}

/// Builds a tiny exact inner-product index with explicit ids and checks that FAISS ranks it
/// correctly: proves the native library is linked and computing, not just present.
pub fn self_check() -> Result<()> {
    let mut index = IdMap::new(FlatIndex::new_ip(4)?)?;
    let vectors = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.6, 0.8, 0.0, 0.0];
    index.add_with_ids(&vectors, &[Idx::new(10), Idx::new(20), Idx::new(30)])?;
    let found = ConcurrentIndex::search(&index, &[0.0, 1.0, 0.0, 0.0], 2)?;
    let labels: Vec<Option<u64>> = found.labels.iter().map(|l| l.get()).collect();
    if labels != [Some(20), Some(30)] || (found.distances[1] - 0.8).abs() > 1e-6 {
        return Err(super::EngineError::Faiss(format!(
            "self-check ranked wrongly: labels {labels:?}, scores {:?}",
            found.distances
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_bundled_faiss_version() {
        assert!(faiss_version().starts_with("1.12"), "{}", faiss_version());
    }

    #[test]
    fn self_check_passes() {
        self_check().unwrap();
    }
}
