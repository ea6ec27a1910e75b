//! The directories (IFDs) of a TIFF-structured file, read from a byte slice for what a raw
//! file's preview and sensor size need: tag numbers and their first few integer values. Every
//! read is a checked slice of the file, so a damaged count or offset reads nothing rather than
//! allocating what it declares; IFDs are visited once each, at most [`MAX_IFDS`] of them.
//!
//! (image-rs's `tiff` crate refuses a file whose first IFD is sensor data, as in most DNGs, and
//! rawler's reader allocates what hostile counts declare.)

use std::collections::HashSet;

/// IFDs visited in one file, SubIFDs included: cameras write fewer than ten.
pub const MAX_IFDS: usize = 64;
/// Entries read from one IFD (real ones have under 100).
const MAX_ENTRIES: usize = 1024;
const SUB_IFDS: u16 = 0x014A;

/// A TIFF-structured file: its bytes and byte order.
pub struct Tiff<'a> {
    bytes: &'a [u8],
    big_endian: bool,
    first: u32,
}

/// One directory: its entries, as (tag, type, count, where the value or its offset is).
pub struct Ifd {
    entries: Vec<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    at: usize,
}

impl<'a> Tiff<'a> {
    /// The file, when it starts with a TIFF header (`II*\0` or `MM\0*`).
    pub fn new(bytes: &'a [u8]) -> Option<Tiff<'a>> {
        let big_endian = match bytes.get(..4)? {
            b"II*\0" => false,
            b"MM\0*" => true,
            _ => return None,
        };
        let mut tiff = Tiff { bytes, big_endian, first: 0 };
        tiff.first = tiff.u32_at(4)?;
        Some(tiff)
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Every IFD, breadth first: the chain from the header (its first IFD first), then the
    /// SubIFDs below each.
    pub fn ifds(&self) -> Vec<Ifd> {
        let mut seen = HashSet::new();
        let mut pending = std::collections::VecDeque::from([self.first]);
        let mut ifds = Vec::new();
        while let Some(offset) = pending.pop_front() {
            if ifds.len() == MAX_IFDS || offset == 0 || !seen.insert(offset) {
                continue;
            }
            let Some((ifd, next)) = self.ifd_at(offset as usize) else { continue };
            pending.push_front(next);
            let subs = ifd.entry(SUB_IFDS).map(|e| self.values(e).take(MAX_IFDS).collect::<Vec<_>>()).unwrap_or_default();
            ifds.push(ifd);
            pending.extend(subs);
        }
        ifds
    }

    /// The first value of `tag` in `ifd`, when it is an unsigned integer (BYTE, SHORT, LONG, IFD).
    pub fn number(&self, ifd: &Ifd, tag: u16) -> Option<u32> {
        self.values(ifd.entry(tag)?).next()
    }

    fn ifd_at(&self, offset: usize) -> Option<(Ifd, u32)> {
        let count = usize::from(self.u16_at(offset)?).min(MAX_ENTRIES);
        let entries = (0..count)
            .map_while(|i| {
                let at = offset + 2 + i * 12;
                Some(Entry { tag: self.u16_at(at)?, kind: self.u16_at(at + 2)?, count: self.u32_at(at + 4)?, at: at + 8 })
            })
            .collect();
        let next = self.u32_at(offset + 2 + count * 12).unwrap_or(0);
        Some((Ifd { entries }, next))
    }

    /// An entry's integer values, read from the file one at a time.
    fn values(&self, entry: &Entry) -> impl Iterator<Item = u32> + '_ {
        let size = match entry.kind {
            1 => 1,
            3 => 2,
            4 | 13 => 4,
            _ => 0,
        };
        let total = size as u64 * u64::from(entry.count);
        let start = if total <= 4 { Some(entry.at) } else { self.u32_at(entry.at).map(|o| o as usize) };
        let entry = *entry;
        (0..if size == 0 { 0 } else { entry.count as usize }).map_while(move |i| {
            let at = start?.checked_add(i * size)?;
            match size {
                1 => self.bytes.get(at).map(|b| u32::from(*b)),
                2 => self.u16_at(at).map(u32::from),
                _ => self.u32_at(at),
            }
        })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }
}

impl Ifd {
    fn entry(&self, tag: u16) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// Whether the IFD has `tag`.
    pub fn has(&self, tag: u16) -> bool {
        self.entry(tag).is_some()
    }

    /// How many values `tag` has.
    pub fn count(&self, tag: u16) -> Option<u32> {
        self.entry(tag).map(|e| e.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF of IFDs given as (tag, type, values), chained in order.
    fn tiff(ifds: &[&[(u16, u16, &[u32])]]) -> Vec<u8> {
        let mut out = b"II*\0\x08\0\0\0".to_vec();
        for (n, ifd) in ifds.iter().enumerate() {
            out.extend_from_slice(&(ifd.len() as u16).to_le_bytes());
            for (tag, kind, values) in ifd.iter() {
                out.extend_from_slice(&tag.to_le_bytes());
                out.extend_from_slice(&kind.to_le_bytes());
                out.extend_from_slice(&(values.len() as u32).to_le_bytes());
                out.extend_from_slice(&values.first().copied().unwrap_or(0).to_le_bytes());
            }
            let next = if n + 1 < ifds.len() { out.len() as u32 + 4 } else { 0 };
            out.extend_from_slice(&next.to_le_bytes());
        }
        out
    }

    #[test]
    fn chained_ifds_are_read_in_order_with_their_values() {
        let bytes = tiff(&[&[(0x100, 4, &[800]), (0x112, 3, &[6])], &[(0x100, 3, &[160])]]);
        let t = Tiff::new(&bytes).unwrap();
        let ifds = t.ifds();
        assert_eq!(ifds.len(), 2);
        assert_eq!(t.number(&ifds[0], 0x100), Some(800));
        assert_eq!(t.number(&ifds[0], 0x112), Some(6));
        assert_eq!(t.number(&ifds[1], 0x100), Some(160));
        assert!(Tiff::new(b"not a tiff").is_none());
    }

    #[test]
    fn hostile_counts_offsets_and_cycles_read_nothing_and_end() {
        // A count of 4 billion LONGs at an offset past the end: no value, no allocation.
        let mut bytes = tiff(&[&[(0x111, 4, &[0])]]);
        bytes[14..18].copy_from_slice(&u32::MAX.to_le_bytes());
        bytes[18..22].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
        let t = Tiff::new(&bytes).unwrap();
        let ifds = t.ifds();
        assert_eq!(t.number(&ifds[0], 0x111), None);
        // An IFD whose next pointer is itself, and a SubIFD pointing at its parent: visited once.
        let mut looped = tiff(&[&[(SUB_IFDS, 13, &[8])]]);
        let end = looped.len();
        looped[end - 4..].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(Tiff::new(&looped).unwrap().ifds().len(), 1);
        // An entry count larger than the file: the entries that fit.
        let mut short = tiff(&[&[(0x100, 4, &[1])]]);
        short[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(Tiff::new(&short).unwrap().ifds()[0].entries.len(), 1);
    }
}
