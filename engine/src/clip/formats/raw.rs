//! Camera RAW files (DNG and the vendors' formats). What is searched is the camera's own JPEG
//! rendering, embedded in the file, when there is one of at least [`PREVIEW_MIN_SHORT`] pixels
//! on its short side: decoding a JPEG (DCT-scaled where the caller allows) is many times faster
//! than developing the mosaic, and its colours are what the camera showed. TIFF-based files
//! (DNG, CR2, NEF, ARW, PEF, ...) and Fujifilm's RAF are read for it here, by [`super::tiff_ifd`].
//!
//! Everything else, developing the sensor data above all, is LibRaw's work in its own process
//! (`dcraw_emu` from Debian's `libraw-bin`), bounded in time, memory and output as FFmpeg is for
//! videos: a hostile raw file can crash or exhaust only that process. (In-process decoders were
//! tried: rawler allocates whatever a damaged header declares, and the fuzz test aborted the
//! process on a 34 GB allocation; LibRaw is the reference decoder besides.)

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

use image::{metadata::Orientation, DynamicImage, ImageDecoder, RgbImage};
use wait_timeout::ChildExt;

use super::tiff_ifd::{Ifd, Tiff};
use crate::clip::preprocess;

/// The shortest side an embedded preview needs to stand for the photo: twice the 256-pixel
/// input of the zoo's larger models, as the DCT-scaled decode of a JPEG keeps.
pub const PREVIEW_MIN_SHORT: u32 = 512;

/// LibRaw's developer, from Debian's `libraw-bin`.
pub const DEVELOPER: &str = "dcraw_emu";
/// Longest a development may take (a 100 MP file takes a few seconds on 2 cores).
const DEVELOP_LIMIT: Duration = Duration::from_secs(60);
/// Address space the developer may take: a 150 MP photo develops in under 2 GB.
const DEVELOP_MEMORY: u64 = 4 << 30;

/// TIFF tags by number.
const IMAGE_WIDTH: u16 = 0x0100;
const IMAGE_LENGTH: u16 = 0x0101;
const COMPRESSION: u16 = 0x0103;
const PHOTOMETRIC: u16 = 0x0106;
const STRIP_OFFSETS: u16 = 0x0111;
const ORIENTATION: u16 = 0x0112;
const STRIP_BYTE_COUNTS: u16 = 0x0117;
const JPEG_OFFSET: u16 = 0x0201;
const JPEG_LENGTH: u16 = 0x0202;
const DNG_VERSION: u16 = 0xC612;
/// PhotometricInterpretation values of sensor data: a colour filter array, or linear RGB.
const CFA: u32 = 32803;
const LINEAR_RAW: u32 = 34892;

/// Fujifilm's RAF: a header naming where its JPEG is.
const RAF_MAGIC: &[u8] = b"FUJIFILMCCD-RAW";

/// The camera's JPEG inside a raw file, and how to turn it upright.
pub struct Preview<'a> {
    /// The JPEG file, as stored.
    pub jpeg: &'a [u8],
    /// The orientation to apply once it is decoded: the raw file's (its previews share the
    /// sensor's), unless the JPEG carries its own.
    pub orientation: Orientation,
}

/// Whether `bytes` are a camera raw file: a TIFF with a DNG version, a CR2 signature or sensor
/// data, or one of the vendors' own containers.
pub fn is_raw(bytes: &[u8]) -> bool {
    const VENDOR_MAGICS: &[&[u8]] = &[RAF_MAGIC, b"IIRO", b"IIRS", b"MMOR", b"IIU\0", b"\0MRM", b"FOVb"];
    if VENDOR_MAGICS.iter().any(|m| bytes.starts_with(m)) || bytes.get(4..12) == Some(b"ftypcrx ") || bytes.get(6..14) == Some(b"HEAPCCDR") {
        return true;
    }
    let Some(tiff) = Tiff::new(bytes) else { return false };
    bytes.get(8..10) == Some(b"CR") || tiff.ifds().iter().any(|ifd| ifd.has(DNG_VERSION) || is_sensor_data(&tiff, ifd))
}

fn is_sensor_data(tiff: &Tiff, ifd: &Ifd) -> bool {
    matches!(tiff.number(ifd, PHOTOMETRIC), Some(CFA | LINEAR_RAW))
}

/// The largest embedded JPEG whose short side is at least [`PREVIEW_MIN_SHORT`].
pub fn preview(bytes: &[u8]) -> Option<Preview<'_>> {
    if bytes.starts_with(RAF_MAGIC) {
        let at = |i: usize| bytes.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let (offset, length) = (at(84)?, at(88)?);
        let jpeg = bytes.get(offset..offset.checked_add(length)?)?;
        return big_enough(jpeg).then_some(Preview { jpeg, orientation: Orientation::NoTransforms });
    }
    let tiff = Tiff::new(bytes)?;
    let ifds = tiff.ifds();
    let raw_orientation = tiff.number(ifds.first()?, ORIENTATION).and_then(|o| Orientation::from_exif(o as u8)).unwrap_or(Orientation::NoTransforms);
    let jpeg = ifds
        .iter()
        .filter_map(|ifd| embedded_jpeg(&tiff, ifd))
        .filter_map(|jpeg| Some((preprocess::dimensions(jpeg).ok()?, jpeg)))
        .filter(|((w, h), _)| (*w).min(*h) >= PREVIEW_MIN_SHORT)
        .max_by_key(|((w, h), _)| u64::from(*w) * u64::from(*h))?
        .1;
    let orientation = if turns_itself(jpeg) { Orientation::NoTransforms } else { raw_orientation };
    Some(Preview { jpeg, orientation })
}

fn big_enough(jpeg: &[u8]) -> bool {
    preprocess::dimensions(jpeg).is_ok_and(|(w, h)| w.min(h) >= PREVIEW_MIN_SHORT)
}

/// A JPEG stored in `ifd` (as JPEGInterchangeFormat, or as its one strip), when the IFD holds a
/// rendered picture rather than sensor data.
fn embedded_jpeg<'a>(tiff: &Tiff<'a>, ifd: &Ifd) -> Option<&'a [u8]> {
    if is_sensor_data(tiff, ifd) {
        return None;
    }
    let (offset, length) = match (tiff.number(ifd, JPEG_OFFSET), tiff.number(ifd, JPEG_LENGTH)) {
        (Some(offset), Some(length)) => (offset, length),
        _ if matches!(tiff.number(ifd, COMPRESSION), Some(6 | 7)) && ifd.count(STRIP_OFFSETS) == Some(1) => {
            (tiff.number(ifd, STRIP_OFFSETS)?, tiff.number(ifd, STRIP_BYTE_COUNTS)?)
        }
        _ => return None,
    };
    let jpeg = tiff.bytes().get(offset as usize..(offset as usize).checked_add(length as usize)?)?;
    // A baseline or progressive JPEG: lossless JPEG (SOF3) is how DNG compresses sensor data.
    (jpeg.starts_with(&[0xFF, 0xD8]) && !jpeg.windows(2).take(64 * 1024).any(|w| w == [0xFF, 0xC3])).then_some(jpeg)
}

/// Whether a JPEG is rotated by its own EXIF (then the raw file's orientation is not applied a
/// second time).
fn turns_itself(jpeg: &[u8]) -> bool {
    image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg)).and_then(|mut d| d.orientation()).is_ok_and(|o| o != Orientation::NoTransforms)
}

/// The declared size of the largest sensor-data IFD of a TIFF-based raw file.
fn sensor_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let tiff = Tiff::new(bytes)?;
    tiff.ifds()
        .iter()
        .filter(|ifd| is_sensor_data(&tiff, ifd))
        .filter_map(|ifd| Some((tiff.number(ifd, IMAGE_WIDTH)?, tiff.number(ifd, IMAGE_LENGTH)?)))
        .max_by_key(|(w, h)| u64::from(*w) * u64::from(*h))
}

/// Width and height of the photo as stored: its preview's, else its sensor's (known before
/// developing for TIFF-based files only).
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    if let Some(preview) = preview(bytes) {
        return preprocess::dimensions(preview.jpeg);
    }
    sensor_size(bytes).ok_or_else(|| "the size of this RAW file is known only once it is developed".into())
}

/// Whether [`decode`] develops the sensor data (a costlier decode than a JPEG's).
pub fn develops(bytes: &[u8]) -> bool {
    preview(bytes).is_none()
}

/// Decodes the photo upright, after `check` accepted its size: the embedded JPEG where there is
/// one big enough, else the sensor data developed by LibRaw.
pub fn decode(bytes: &[u8], check: fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    if let Some(preview) = preview(bytes) {
        let mut image = preprocess::decode(preview.jpeg)?;
        image.apply_orientation(preview.orientation);
        return Ok(image);
    }
    if let Some((w, h)) = sensor_size(bytes) {
        check(w, h)?;
    }
    develop(bytes, false, check)
}

/// As [`decode`], at a smaller size whose short side is still at least `min_short` where that
/// is cheaper (the preview DCT-scaled, the mosaic developed at half size); with the upright
/// size of the photo. None when nothing smaller applies.
pub fn decode_scaled(bytes: &[u8], min_short: u32, check: fn(u32, u32) -> Result<(), String>) -> Result<Option<(DynamicImage, (u32, u32))>, String> {
    if let Some(preview) = preview(bytes) {
        let Some((image, (w, h))) = preprocess::decode_scaled_jpeg(preview.jpeg, min_short)? else { return Ok(None) };
        let (image, turned) = preprocess::turn(image, preview.orientation);
        return Ok(Some((image, if turned { (h, w) } else { (w, h) })));
    }
    let Some((w, h)) = sensor_size(bytes).filter(|(w, h)| (*w).min(*h) / 2 >= min_short) else { return Ok(None) };
    check(w, h)?;
    let image = develop(bytes, true, check)?;
    // LibRaw turned it upright: the photo's size is the sensor's, turned the same way.
    let turned = (image.width() > image.height()) != (w > h);
    Ok(Some((image, if turned { (h, w) } else { (w, h) })))
}

/// The sensor data developed by LibRaw's `dcraw_emu` (camera white balance, sRGB, upright;
/// `half`: at half the size, twice as fast), from a private copy of the file.
fn develop(bytes: &[u8], half: bool, check: fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary folder to develop the RAW file in: {e}"))?;
    let copy = dir.path().join("photo.raw");
    std::fs::write(&copy, bytes).map_err(|e| format!("cannot copy the RAW file to develop it: {e}"))?;
    let mut command = Command::new(DEVELOPER);
    command.args(["-w", "-Z", "-"]).args(half.then_some("-h")).arg(&copy);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    limit_memory(&mut command);
    let mut child = command.spawn().map_err(|e| format!("LibRaw's {DEVELOPER} does not run ({e}): install libraw-bin (scripts/setup.sh)"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else { return Err("the developer's pipes are missing".into()) };
    let reader = std::thread::spawn(move || read_ppm(stdout, check));
    let complaint = std::thread::spawn(move || first_words(stderr));
    let status = match child.wait_timeout(DEVELOP_LIMIT) {
        Ok(Some(status)) => status,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(match other {
                Err(e) => format!("waiting for {DEVELOPER} failed: {e}"),
                _ => format!("developing the RAW file took longer than {} s", DEVELOP_LIMIT.as_secs()),
            });
        }
    };
    let image = reader.join().map_err(|_| "reading the developed RAW image failed".to_string())?;
    let complaint = complaint.join().unwrap_or_default();
    match image {
        Ok(image) if status.success() => Ok(DynamicImage::ImageRgb8(image)),
        // dcraw_emu exits 0 for a file it cannot open: what it said is the reason.
        _ if !complaint.is_empty() => Err(format!("LibRaw cannot develop this RAW file: {complaint}")),
        Ok(_) => Err(format!("LibRaw cannot develop this RAW file ({status})")),
        Err(reason) => Err(reason),
    }
}

/// The first line the developer wrote to stderr (at most 200 bytes), the rest drained.
fn first_words(mut stderr: impl Read) -> String {
    let mut said = Vec::new();
    let _ = (&mut stderr).take(200).read_to_end(&mut said);
    let _ = std::io::copy(&mut stderr, &mut std::io::sink());
    let said = String::from_utf8_lossy(&said);
    // Its messages name the private copy, not the user's file: drop the path.
    let line = said.lines().next().unwrap_or_default();
    line.rsplit(": ").next().unwrap_or(line).trim().to_string()
}

/// Caps the developer's address space, so a hostile file exhausts its memory, not the machine's.
fn limit_memory(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit { rlim_cur: DEVELOP_MEMORY, rlim_max: DEVELOP_MEMORY };
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(move || if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
    }
}

/// An 8-bit binary PPM (P6) from `reader`, its size checked before its pixels are read.
fn read_ppm(mut reader: impl Read, check: fn(u32, u32) -> Result<(), String>) -> Result<RgbImage, String> {
    let mut header: Vec<u8> = Vec::new();
    let mut byte = [0u8; 1];
    // "P6", width, height, maxval, each followed by one whitespace (dcraw_emu writes no comments).
    while header.iter().filter(|b| b.is_ascii_whitespace()).count() < 4 {
        if header.len() == 64 || reader.read(&mut byte).map_err(|e| e.to_string())? == 0 {
            return Err("LibRaw wrote no image".into());
        }
        header.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&header);
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    let [magic, w, h, max] = fields[..] else { return Err("LibRaw wrote an unreadable image header".into()) };
    let (Ok(w), Ok(h)) = (w.parse::<u32>(), h.parse::<u32>()) else { return Err("LibRaw wrote an unreadable image size".into()) };
    if magic != "P6" || max != "255" {
        return Err(format!("LibRaw wrote a {magic} image of depth {max}, not 8-bit RGB"));
    }
    check(w, h)?;
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    reader.read_exact(&mut pixels).map_err(|e| format!("the developed RAW image is cut short: {e}"))?;
    RgbImage::from_raw(w, h, pixels).ok_or_else(|| "the developed RAW image has too few pixels".into())
}

/// Whether LibRaw's developer is installed (for `clipfind doctor`).
pub fn developer_installed() -> bool {
    Command::new(DEVELOPER).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(w: u32, h: u32) -> Result<(), String> {
        crate::clip::preprocess::check_picture_size(w, h, "a photo")
    }

    #[test]
    fn the_developer_s_ppm_is_size_checked_before_its_pixels_are_read() {
        let mut ppm = b"P6\n4 4\n255\n".to_vec();
        ppm.extend_from_slice(&[7u8; 48]);
        assert_eq!(read_ppm(&ppm[..], sized).unwrap().dimensions(), (4, 4));
        // 60000x60000 declared and no pixels: refused by the size, not by a short read.
        let bomb = read_ppm(&b"P6\n60000 60000\n255\n"[..], sized).unwrap_err();
        assert!(bomb.contains("megapixel limit"), "{bomb}");
        assert!(read_ppm(&b"P6\n4 4\n255\n\x01\x02"[..], sized).unwrap_err().contains("cut short"));
        assert!(read_ppm(&b"P5\n4 4\n65535\n"[..], sized).unwrap_err().contains("not 8-bit RGB"));
        assert!(read_ppm(&b""[..], sized).unwrap_err().contains("no image"));
        assert!(read_ppm(&[b'x'; 100][..], sized).unwrap_err().contains("no image"), "a header without whitespace ends");
    }

    #[test]
    fn only_tiffs_with_sensor_data_or_a_dng_version_and_vendor_containers_are_raw() {
        assert!(!is_raw(b"II*\0\x08\0\0\0\0\0\0\0\0\0"), "a TIFF without sensor data is a TIFF");
        assert!(is_raw(b"II*\0\x10\0\0\0CR\x02\0\0\0\0\0"), "CR2's signature");
        assert!(is_raw(b"FUJIFILMCCD-RAW 0201FF383501"));
        assert!(is_raw(b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom"));
        assert!(!is_raw(b"\xFF\xD8\xFF\xE0"), "a JPEG");
    }
}
