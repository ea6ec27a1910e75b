//! Where every embedding is kept, once: an append-only file of fixed-size records
//! (`id: i64`, then `dim` little-endian `f32`s), one record per slot. The catalog row of an image
//! names its slot, and the catalog's meta table names the file and how many of its slots are
//! committed: records past that count are what a killed run appended before its catalog commit,
//! and the next writer cuts them off.
//!
//! The indexer appends and syncs before it commits the rows that point at the new slots, so a
//! committed row always has its vector on disk. Readers memory-map the file: nothing is read
//! into memory until a search needs it. Each record carries its image id, so a slot that does not
//! hold the image the catalog says is an error, never a silently wrong vector.

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use memmap2::Mmap;

use crate::{EngineError, Result};

/// Meta key naming the vector file inside the index folder.
pub const FILE_KEY: &str = "vector_file";
/// Meta key holding how many slots of the vector file the catalog has committed.
pub const SLOTS_KEY: &str = "vector_slots";

/// Bytes of one record: the id and the vector.
pub fn stride(dim: usize) -> usize {
    8 + 4 * dim
}

/// The name of the `n`-th vector file an index has had (a rebuild or a compaction starts a new one).
pub fn file_name(n: u64) -> String {
    format!("vectors-{n}.f32")
}

/// The number in a vector file's name (`vectors-3.f32` → 3).
pub fn number(name: Option<&str>) -> Option<u64> {
    name?.strip_prefix("vectors-")?.strip_suffix(".f32")?.parse().ok()
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io { path: path.to_path_buf(), source }
}

/// The writer's end: appends records after the committed ones.
pub struct VectorAppender {
    file: File,
    path: PathBuf,
    dim: usize,
    slots: u64,
}

impl VectorAppender {
    /// Opens (creating if needed) `path` for appending after `committed` slots; anything past
    /// them is an interrupted run's uncommitted tail and is cut off.
    pub fn open(path: &Path, committed: u64, dim: usize) -> Result<VectorAppender> {
        let err = io_error(path);
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(&err)?;
        let want = committed * stride(dim) as u64;
        let have = file.metadata().map_err(&err)?.len();
        if have < want {
            return Err(EngineError::Catalog {
                path: path.to_path_buf(),
                reason: format!("the vector file holds {} of the {committed} committed vectors (was it truncated or replaced?); rebuild with --rebuild", have / stride(dim) as u64),
            });
        }
        if have > want {
            file.set_len(want).map_err(&err)?;
        }
        Ok(VectorAppender { file, path: path.to_path_buf(), dim, slots: committed })
    }

    /// Slots written so far (committed or not).
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// Appends `vector` for image `id`; returns its slot. Durable only after [`Self::sync`].
    pub fn append(&mut self, id: i64, vector: &[f32]) -> Result<u64> {
        if vector.len() != self.dim {
            return Err(EngineError::Usage(format!("a {}-d vector for a {}-d vector file", vector.len(), self.dim)));
        }
        let mut record = Vec::with_capacity(stride(self.dim));
        record.extend_from_slice(&id.to_le_bytes());
        record.extend_from_slice(bytemuck::cast_slice(vector));
        self.file.write_all_at(&record, self.slots * stride(self.dim) as u64).map_err(io_error(&self.path))?;
        self.slots += 1;
        Ok(self.slots - 1)
    }

    /// The vector in `slot`, which must belong to image `id`.
    pub fn read(&self, slot: u64, id: i64) -> Result<Vec<f32>> {
        read_record(&self.file, &self.path, self.dim, slot, id)
    }

    /// Makes every appended record durable (before the catalog commits rows pointing at them).
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(io_error(&self.path))
    }
}

/// The vector in `slot` of `file`, read with one `pread`, which must belong to image `id`.
fn read_record(file: &File, path: &Path, dim: usize, slot: u64, id: i64) -> Result<Vec<f32>> {
    let mut record = vec![0u8; stride(dim)];
    file.read_exact_at(&mut record, slot * stride(dim) as u64).map_err(io_error(path))?;
    let owner = i64::from_le_bytes(record[..8].try_into().expect("8 bytes"));
    check_owner(path, slot, owner, id)?;
    // A Vec<u8> need not be aligned for f32: copy rather than cast.
    Ok(bytemuck::pod_collect_to_vec(&record[8..]))
}

/// Splits a mapped record (4-byte aligned: the map is page-aligned and records are 8 + 4d bytes).
fn split_record(record: &[u8]) -> (i64, &[f32]) {
    let owner = i64::from_le_bytes(record[..8].try_into().expect("8 bytes"));
    (owner, bytemuck::cast_slice(&record[8..]))
}

fn check_owner(path: &Path, slot: u64, owner: i64, id: i64) -> Result<()> {
    if owner == id {
        return Ok(());
    }
    Err(EngineError::Catalog {
        path: path.to_path_buf(),
        reason: format!("slot {slot} holds the vector of image {owner}, not of image {id}: the vector file does not match the catalog; rebuild with --rebuild"),
    })
}

/// The reader's end: the committed records, memory-mapped for passes over all of them, and read
/// with `pread` for the few a search needs (a page fault on a mapping maps the 64 KB around it
/// into the process, so reading 64 scattered records by faults would grow its resident memory by
/// 4 MB a query until the whole file is resident).
pub struct MappedVectors {
    map: Option<Mmap>,
    file: Option<File>,
    path: PathBuf,
    dim: usize,
    slots: u64,
}

impl MappedVectors {
    /// Maps the first `slots` records of `path` (an empty index has no file to map).
    pub fn open(path: &Path, slots: u64, dim: usize) -> Result<MappedVectors> {
        let mut mapped = MappedVectors { map: None, file: None, path: path.to_path_buf(), dim, slots };
        if slots == 0 {
            return Ok(mapped);
        }
        let err = io_error(path);
        let file = File::open(path).map_err(&err)?;
        let want = slots * stride(dim) as u64;
        if file.metadata().map_err(&err)?.len() < want {
            return Err(EngineError::Catalog { path: path.to_path_buf(), reason: format!("the vector file is shorter than its {slots} committed vectors; rebuild with --rebuild") });
        }
        // SAFETY: the committed part of the file is never rewritten in place (appends go after
        // it; compaction writes a new file), so the mapped bytes do not change under us.
        let map = unsafe { memmap2::MmapOptions::new().len(want as usize).map(&file) }.map_err(&err)?;
        // Searches touch a few records at random: no read-ahead of neighbouring pages.
        let _ = map.advise(memmap2::Advice::Random);
        mapped.map = Some(map);
        mapped.file = Some(file);
        Ok(mapped)
    }

    /// The vector of image `id` in `slot`, read with one `pread`; an error when the slot holds
    /// another image or does not exist.
    pub fn read(&self, slot: u64, id: i64) -> Result<Vec<f32>> {
        let file = self.file.as_ref().filter(|_| slot < self.slots).ok_or_else(|| EngineError::Catalog {
            path: self.path.clone(),
            reason: format!("image {id} is in slot {slot}, past the {} committed vectors", self.slots),
        })?;
        read_record(file, &self.path, self.dim, slot, id)
    }

    /// Drops the mapped pages from this process's memory (they are read again from the page
    /// cache or disk when next touched): after a whole pass, such as building an exact index.
    pub fn release(&self) {
        if let Some(map) = &self.map {
            // SAFETY: the mapping is read-only and file-backed: dropped pages are re-read from
            // the file, whose committed bytes never change.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// Floats per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Committed slots mapped.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// The id and vector in `slot`, if the slot exists.
    pub fn record(&self, slot: u64) -> Option<(i64, &[f32])> {
        let map = self.map.as_ref()?;
        if slot >= self.slots {
            return None;
        }
        let start = slot as usize * stride(self.dim);
        Some(split_record(&map[start..start + stride(self.dim)]))
    }

    /// The vector of image `id` in `slot`; an error when the slot holds another image.
    pub fn vector(&self, slot: u64, id: i64) -> Result<&[f32]> {
        let (owner, vector) = self.record(slot).ok_or_else(|| EngineError::Catalog {
            path: self.path.clone(),
            reason: format!("image {id} is in slot {slot}, past the {} committed vectors", self.slots),
        })?;
        check_owner(&self.path, slot, owner, id)?;
        Ok(vector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_records_read_back_and_the_uncommitted_tail_is_cut() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(file_name(1));
        let mut w = VectorAppender::open(&path, 0, 3).unwrap();
        assert_eq!(w.append(7, &[1.0, 2.0, 3.0]).unwrap(), 0);
        assert_eq!(w.append(9, &[4.0, 5.0, 6.0]).unwrap(), 1);
        w.sync().unwrap();
        assert_eq!(w.read(1, 9).unwrap(), [4.0, 5.0, 6.0]);
        assert!(w.read(1, 7).unwrap_err().to_string().contains("holds the vector of image 9"));
        assert!(w.append(1, &[1.0]).is_err(), "a short vector is refused");
        drop(w);

        let r = MappedVectors::open(&path, 2, 3).unwrap();
        assert_eq!(r.vector(0, 7).unwrap(), [1.0, 2.0, 3.0]);
        assert!(r.vector(2, 7).is_err(), "past the committed slots");
        assert_eq!(r.read(1, 9).unwrap(), [4.0, 5.0, 6.0]);
        assert!(r.read(1, 7).is_err() && r.read(2, 9).is_err());

        // Only one slot was committed: the second is an interrupted run's tail.
        let w = VectorAppender::open(&path, 1, 3).unwrap();
        assert_eq!(w.slots(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), stride(3) as u64);
        drop(w);
        assert!(VectorAppender::open(&path, 5, 3).err().unwrap().to_string().contains("holds 1 of the 5"));
        assert!(MappedVectors::open(&path, 5, 3).is_err());
    }

    #[test]
    fn an_empty_index_maps_nothing() {
        let d = tempfile::tempdir().unwrap();
        let r = MappedVectors::open(&d.path().join("absent.f32"), 0, 4).unwrap();
        assert!(r.record(0).is_none());
    }
}
