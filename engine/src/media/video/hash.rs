//! A video file's identity from a few evenly spaced chunks, without reading all of it.

use std::{
    fs::File,
    io::{self, Read, Seek, SeekFrom},
    path::Path,
};

/// Size of each chunk [`sampled_content_hash`] reads.
const HASH_CHUNK: u64 = 64 * 1024;
/// Number of chunks [`sampled_content_hash`] reads.
const HASH_CHUNKS: u64 = 16;

/// Identity of a video file without reading all of it: xxh3-128 (32 hex digits) over the file
/// size and 16 chunks of 64 KiB at evenly spaced offsets (the first at 0, the last ending at the
/// end of the file), or over the whole file when it is at most 1 MiB.
///
/// The trade-off: at most 1 MiB in 16 reads, however large the file, so a multi-GB library is
/// fingerprinted without reading it; but an edit that changes neither the size nor any sampled
/// chunk (bytes patched in place between chunks) keeps the hash. Such edits are rare for video:
/// editors and re-encoders rewrite the whole file, and MP4/MOV metadata sits in the first or last
/// chunk. The caller still looks again when a file's size or mtime changes; this hash then tells
/// a rename, copy or touched-but-unchanged file from new content.
pub fn sampled_content_hash(path: &Path) -> io::Result<String> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    hash_sampled(file, size)
}

pub(crate) fn hash_sampled(mut reader: impl Read + Seek, size: u64) -> io::Result<String> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&size.to_le_bytes());
    if size <= HASH_CHUNK * HASH_CHUNKS {
        let mut all = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut all)?;
        hasher.update(&all);
    } else {
        let mut chunk = vec![0u8; HASH_CHUNK as usize];
        let last_start = size - HASH_CHUNK;
        for i in 0..HASH_CHUNKS {
            reader.seek(SeekFrom::Start(last_start * i / (HASH_CHUNKS - 1)))?;
            reader.read_exact(&mut chunk)?;
            hasher.update(&chunk);
        }
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: u64,
    }
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }
    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn sampled_hash_reads_only_its_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let size: u64 = 5 * 1024 * 1024 + 123;
        let bytes: Vec<u8> = (0..size).map(|i| (i * 2654435761 % 251) as u8).collect();
        let a = dir.path().join("a.mp4");
        let b = dir.path().join("copy of a.mp4");
        std::fs::write(&a, &bytes).unwrap();
        std::fs::write(&b, &bytes).unwrap();
        let hash = sampled_content_hash(&a).unwrap();
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, sampled_content_hash(&b).unwrap(), "copies hash the same");

        // A byte inside a sampled chunk (chunk 7 starts at 7/15 of the way to the last one).
        let mut edited = bytes.clone();
        let chunk7 = ((size - HASH_CHUNK) * 7 / 15 + 100) as usize;
        edited[chunk7] ^= 1;
        std::fs::write(&b, &edited).unwrap();
        assert_ne!(hash, sampled_content_hash(&b).unwrap());
        // The documented trade-off: a byte between chunks goes unseen.
        let mut between = bytes.clone();
        between[(HASH_CHUNK + 1000) as usize] ^= 1;
        std::fs::write(&b, &between).unwrap();
        assert_eq!(hash, sampled_content_hash(&b).unwrap());
        // The last byte is sampled; so is the size.
        let mut last = bytes.clone();
        *last.last_mut().unwrap() ^= 1;
        std::fs::write(&b, &last).unwrap();
        assert_ne!(hash, sampled_content_hash(&b).unwrap());
        std::fs::write(&b, &bytes[..bytes.len() - 1]).unwrap();
        assert_ne!(hash, sampled_content_hash(&b).unwrap());

        // Cheap: 16 x 64 KiB of a 5 MiB file (and of a 4 GiB sparse one).
        let mut counting = Counting { inner: File::open(&a).unwrap(), read: 0 };
        assert_eq!(hash_sampled(&mut counting, size).unwrap(), hash);
        assert_eq!(counting.read, HASH_CHUNK * HASH_CHUNKS);
        let sparse = dir.path().join("big.mkv");
        File::create(&sparse).unwrap().set_len(4 << 30).unwrap();
        let mut counting = Counting { inner: File::open(&sparse).unwrap(), read: 0 };
        hash_sampled(&mut counting, 4 << 30).unwrap();
        assert_eq!(counting.read, HASH_CHUNK * HASH_CHUNKS);

        // Small files are hashed whole.
        let small = dir.path().join("small.mp4");
        std::fs::write(&small, &bytes[..1000]).unwrap();
        let mut counting = Counting { inner: File::open(&small).unwrap(), read: 0 };
        assert_eq!(hash_sampled(&mut counting, 1000).unwrap(), sampled_content_hash(&small).unwrap());
        assert_eq!(counting.read, 1000);
    }
}
