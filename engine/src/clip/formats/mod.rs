//! Still-image containers the `image` crate does not read: HEIF (HEIC from iPhones, HEIF and
//! AVIF from Android phones) through libheif, JPEG XL through jxl-oxide, JPEG 2000 through
//! hayro-jpeg2000, and camera RAW files
//! (DNG and the vendors' formats): their embedded JPEG, else LibRaw. Each is recognised
//! by its content, not its name, and reads its header first, so the size limits are checked and
//! the decode budget is reserved before a pixel is decoded.

pub mod heif;
pub mod jp2;
pub mod jxl;
pub mod raw;
pub mod tiff_ifd;

use image::DynamicImage;

/// A container read here rather than by the `image` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ISO/IEC 23008-12 images: HEIC (HEVC), AVIF (AV1) and their relatives.
    Heif,
    /// JPEG XL, as a bare codestream or in its ISOBMFF container.
    Jxl,
    /// JPEG 2000, a JP2 file or a bare codestream.
    Jp2,
    /// A camera's raw file: DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2, PEF and their relatives.
    Raw,
}

/// The container `bytes` are in, when it is one of these.
pub fn sniff(bytes: &[u8]) -> Option<Container> {
    if heif::is_heif(bytes) {
        Some(Container::Heif)
    } else if jxl::is_jxl(bytes) {
        Some(Container::Jxl)
    } else if jp2::is_jp2(bytes) {
        Some(Container::Jp2)
    } else if raw::is_raw(bytes) {
        Some(Container::Raw)
    } else {
        None
    }
}

/// Width and height of the (primary) image as stored, from the header alone.
pub fn dimensions(container: Container, bytes: &[u8]) -> Result<(u32, u32), String> {
    match container {
        Container::Heif => heif::dimensions(bytes),
        Container::Jxl => jxl::dimensions(bytes),
        Container::Jp2 => jp2::dimensions(bytes),
        Container::Raw => raw::dimensions(bytes),
    }
}

/// Decodes the (primary) image upright, after `check` accepted its size.
pub fn decode(container: Container, bytes: &[u8], check: fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    match container {
        Container::Heif => heif::decode(bytes, check),
        Container::Jxl => jxl::decode(bytes, check),
        Container::Jp2 => jp2::decode(bytes, check),
        Container::Raw => raw::decode(bytes, check),
    }
}

/// How many times a plain decode's memory (see `budget::decode_cost`) decoding takes: developing
/// a raw mosaic holds the sensor data, its copy and floating-point RGB.
pub fn cost_factor(container: Container, bytes: &[u8]) -> u64 {
    match container {
        Container::Raw if raw::develops(bytes) => 4,
        _ => 1,
    }
}

/// Every still-image format by name, and whether this installation reads it (libheif may lack
/// its HEVC or AV1 decoder).
pub fn readable() -> Vec<(&'static str, bool)> {
    let mut formats: Vec<(&'static str, bool)> = ["JPEG", "PNG", "WebP", "GIF", "BMP", "TIFF", "MPO"].map(|f| (f, true)).to_vec();
    formats.extend(heif::decoders());
    formats.push(("JPEG XL", true));
    formats.push(("JPEG 2000", true));
    // Camera RAW's embedded JPEGs are read here; developing the sensor data needs LibRaw.
    formats.push(("RAW previews", true));
    formats.push(("RAW developing (LibRaw)", raw::developer_installed()));
    formats
}
