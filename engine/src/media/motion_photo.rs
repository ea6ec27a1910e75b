//! Motion photos: the JPEG that Samsung and Google (Pixel) cameras write with a short MP4 clip
//! appended after the picture. The still is the photo; the clip's frames are its moments, as
//! for a Live Photo's twin (see `catalog::live`), but inside the same file.
//!
//! Where the clip starts is said by the camera, in one of three ways, each checked against the
//! bytes (an MP4 begins with an `ftyp` box):
//! - Google's Motion Photo XMP (2021 on): a `Container:Directory` whose `MotionPhoto` item has
//!   the clip's `Length`, counted back from the end of the file;
//! - Google's older MicroVideo XMP: `GCamera:MicroVideoOffset`, also from the end;
//! - Samsung's trailer: the marker `MotionPhoto_Data` right before the clip, in a file that
//!   ends with Samsung's SEF directory (`SEFT`), so other JPEGs are not searched through.
//!
//! The clip ends where its top-level boxes end (Samsung's SEF directory follows it). Every read
//! is a checked slice of the file, and the box walk is bounded by the file's size.

use std::ops::Range;

/// Marker Samsung writes right before the clip.
const SAMSUNG_MARKER: &[u8] = b"MotionPhoto_Data";
/// APP1 segments that hold XMP start with this namespace.
const XMP_SIGNATURE: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
/// Top-level boxes read past the clip's start at most (a phone's clip has about five).
const MAX_BOXES: usize = 64;

/// The byte range of the MP4 clip inside a motion photo's JPEG, or None for any other file.
pub fn clip_range(file: &[u8]) -> Option<Range<usize>> {
    if !file.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let xmp = jpeg_xmp(file);
    let from_end = |length: u64| usize::try_from(length).ok().and_then(|n| file.len().checked_sub(n));
    let candidates = [
        xmp.and_then(|x| item_length(x, "MotionPhoto")).and_then(from_end),
        xmp.and_then(|x| attribute(x, "MicroVideoOffset")).and_then(from_end),
        samsung_clip_start(file),
    ];
    candidates.into_iter().flatten().find_map(|start| mp4_at(file, start))
}

/// The XMP packet of a JPEG's APP1 segments, read up to the first scan (where metadata ends).
fn jpeg_xmp(file: &[u8]) -> Option<&[u8]> {
    let mut at = 2;
    while let Some(&[0xFF, marker]) = file.get(at..at + 2) {
        if marker == 0xDA || marker == 0xD9 {
            return None; // start of scan, or end of image: no XMP
        }
        let length = usize::from(u16::from_be_bytes(file.get(at + 2..at + 4)?.try_into().ok()?));
        let segment = file.get(at + 4..(at + 2).checked_add(length)?)?;
        if marker == 0xE1 {
            if let Some(xmp) = segment.strip_prefix(XMP_SIGNATURE) {
                return Some(xmp);
            }
        }
        at += 2 + length;
    }
    None
}

/// The `Length` of the Container directory item whose `Semantic` is `semantic` (any namespace
/// prefix: cameras write `Item:`, `GContainerItem:` and others).
fn item_length(xmp: &[u8], semantic: &str) -> Option<u64> {
    let text = std::str::from_utf8(xmp).ok()?;
    let wanted = format!("Semantic=\"{semantic}\"");
    let at = text.find(&wanted)?;
    let element_start = text[..at].rfind('<')?;
    let element_end = at + text[at..].find('>')?;
    attribute(text[element_start..element_end].as_bytes(), "Length")
}

/// The whole-number value of the first attribute `…:name="N"` in `xml`.
fn attribute(xml: &[u8], name: &str) -> Option<u64> {
    let text = std::str::from_utf8(xml).ok()?;
    let wanted = format!(":{name}=\"");
    let value = &text[text.find(&wanted)? + wanted.len()..];
    value[..value.find('"')?].trim().parse().ok()
}

/// Just after Samsung's marker, searched from the end (the clip is the file's last part) of a
/// file with Samsung's trailer.
fn samsung_clip_start(file: &[u8]) -> Option<usize> {
    if !file.ends_with(b"SEFT") {
        return None;
    }
    let at = file.windows(SAMSUNG_MARKER.len()).rposition(|w| w == SAMSUNG_MARKER)?;
    Some(at + SAMSUNG_MARKER.len())
}

/// The MP4 starting at `start`: its `ftyp` box first, up to where its top-level boxes end. None
/// when it is not an MP4 or has no `moov` box (no clip a player could open).
fn mp4_at(file: &[u8], start: usize) -> Option<Range<usize>> {
    if file.get(start + 4..start + 8)? != b"ftyp" {
        return None;
    }
    let (mut at, mut has_moov) = (start, false);
    for _ in 0..MAX_BOXES {
        let Some((kind, end)) = next_box(file, at) else { break };
        has_moov |= kind == *b"moov";
        at = end;
    }
    has_moov.then_some(start..at)
}

/// The type and end of the box at `at`, when it is whole inside `file`.
fn next_box(file: &[u8], at: usize) -> Option<([u8; 4], usize)> {
    let size = u32::from_be_bytes(file.get(at..at + 4)?.try_into().ok()?);
    let kind: [u8; 4] = file.get(at + 4..at + 8)?.try_into().ok()?;
    if !kind.iter().all(|b| b.is_ascii_alphanumeric() || *b == b' ') {
        return None;
    }
    let (header, size) = match size {
        0 => (8, (file.len() - at) as u64), // to the end of the file
        1 => (16, u64::from_be_bytes(file.get(at + 8..at + 16)?.try_into().ok()?)),
        n => (8, u64::from(n)),
    };
    let end = at.checked_add(usize::try_from(size).ok()?)?;
    (size >= header && end <= file.len()).then_some((kind, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box of `kind` with `body`.
    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn mp4() -> Vec<u8> {
        [mp4_box(b"ftyp", b"isom\0\0\x02\0"), mp4_box(b"mdat", &[7; 100]), mp4_box(b"moov", &[1; 40])].concat()
    }

    /// A JPEG with `xmp` in an APP1 segment, a scan, and `tail` after its end.
    fn jpeg(xmp: Option<&str>, tail: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        if let Some(xmp) = xmp {
            let body = [XMP_SIGNATURE, xmp.as_bytes()].concat();
            f.extend_from_slice(&[0xFF, 0xE1]);
            f.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            f.extend_from_slice(&body);
        }
        f.extend_from_slice(&[0xFF, 0xDA, 0, 2, 1, 2, 3, 0xFF, 0xD9]);
        f.extend_from_slice(tail);
        f
    }

    fn directory(length: usize) -> String {
        format!(
            r#"<rdf:Description GCamera:MotionPhoto="1"><Container:Directory><rdf:Seq>
            <rdf:li><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0"/></rdf:li>
            <rdf:li><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{length}" Item:Padding="0"/></rdf:li>
            </rdf:Seq></Container:Directory></rdf:Description>"#
        )
    }

    #[test]
    fn google_and_samsung_clips_are_found_where_the_camera_says() {
        let clip = mp4();
        let google = jpeg(Some(&directory(clip.len())), &clip);
        assert_eq!(clip_range(&google), Some(google.len() - clip.len()..google.len()));
        let micro = jpeg(Some(&format!(r#"<x GCamera:MicroVideo="1" GCamera:MicroVideoOffset="{}"/>"#, clip.len())), &clip);
        assert_eq!(clip_range(&micro).map(|r| r.len()), Some(clip.len()));
        // Samsung: the marker, the clip, then the SEF directory (not part of the clip).
        let tail = [SAMSUNG_MARKER, &clip, b"\x00\x00SEFH\x01\x02\xff\xff\xff\xffSEFT"].concat();
        let samsung = jpeg(None, &tail);
        let start = samsung.len() - tail.len() + SAMSUNG_MARKER.len();
        assert_eq!(clip_range(&samsung), Some(start..start + clip.len()));
    }

    #[test]
    fn a_claim_the_bytes_do_not_back_is_no_clip() {
        let clip = mp4();
        assert_eq!(clip_range(&jpeg(None, &[])), None, "a plain JPEG");
        assert_eq!(clip_range(&jpeg(Some(&directory(clip.len() + 3)), &clip)), None, "a length past the clip's start");
        assert_eq!(clip_range(&jpeg(Some(&directory(usize::MAX)), &clip)), None, "a length beyond the file");
        assert_eq!(clip_range(&jpeg(Some(&directory(99_999_999_999_999_999)), &clip)), None);
        let without_moov = [mp4_box(b"ftyp", b"isom"), mp4_box(b"mdat", &[0; 9])].concat();
        assert_eq!(clip_range(&jpeg(Some(&directory(without_moov.len())), &without_moov)), None, "no moov box");
        assert_eq!(clip_range(&[SAMSUNG_MARKER, &clip].concat()), None, "not a JPEG");
        assert_eq!(clip_range(&jpeg(None, SAMSUNG_MARKER)), None, "a marker at the very end");
    }

    #[test]
    fn box_sizes_that_lie_end_the_clip_without_reading_past_the_file() {
        let ftyp = mp4_box(b"ftyp", b"isom");
        let moov = mp4_box(b"moov", &[0; 8]);
        let huge = [&u32::MAX.to_be_bytes()[..], b"mdat"].concat();
        let too_small = [&4u32.to_be_bytes()[..], b"free"].concat();
        let large_size = [&1u32.to_be_bytes()[..], b"mdat", &u64::MAX.to_be_bytes()].concat();
        for bad in [huge, too_small, large_size] {
            let file = [ftyp.clone(), moov.clone(), bad].concat();
            assert_eq!(mp4_at(&file, 0), Some(0..ftyp.len() + moov.len()));
        }
        let to_the_end = [ftyp.clone(), moov.clone(), [&0u32.to_be_bytes()[..], b"mdat", &[5; 30]].concat()].concat();
        assert_eq!(mp4_at(&to_the_end, 0), Some(0..to_the_end.len()));
        assert_eq!(mp4_at(&ftyp, ftyp.len() - 3), None, "a start near the end");
    }

    #[test]
    fn xmp_is_read_from_app1_only_and_bounded_by_its_segment() {
        let clip = mp4();
        // A segment length running past the file ends the walk.
        let mut cut = jpeg(Some(&directory(clip.len())), &clip);
        cut[4..6].copy_from_slice(&u16::MAX.to_be_bytes());
        cut.truncate(300);
        assert_eq!(jpeg_xmp(&cut), None);
        // XMP-looking text inside the picture data is not metadata.
        let in_scan = [&jpeg(None, &[])[..], directory(clip.len()).as_bytes(), &clip].concat();
        assert_eq!(jpeg_xmp(&in_scan), None);
        assert_eq!(clip_range(&in_scan), None);
    }
}
