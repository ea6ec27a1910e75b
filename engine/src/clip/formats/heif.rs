//! HEIF through libheif (its own build, embedded in `libheif-sys`, since Debian 12's 1.15 is
//! older than the binding supports), with the system's libde265 for HEVC and dav1d or libaom for
//! AV1. libheif assembles grid images, applies the container's rotation and mirroring, and
//! leaves depth and auxiliary images aside: only the primary image is decoded.

use image::{DynamicImage, RgbImage, RgbaImage};
use libheif_rs::{ColorSpace, CompressionFormat, DecodingOptions, HeifContext, LibHeif, RgbChroma};

/// Brands of still images in the `ftyp` box (not `isom`, `mp42` or `qt  `: those are videos).
const STILL_BRANDS: &[&[u8; 4]] = &[b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2", b"msf1", b"avif", b"avis"];

/// Whether `bytes` start with an `ftyp` box naming a HEIF still-image brand.
pub fn is_heif(bytes: &[u8]) -> bool {
    let Some(size) = bytes.get(..4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize) else { return false };
    if bytes.get(4..8) != Some(b"ftyp") || !(16..=4096).contains(&size) {
        return false;
    }
    let ftyp = &bytes[..size.min(bytes.len())];
    // The major brand, then the compatible brands after the minor version.
    let brands = std::iter::once(&ftyp[8..12.min(ftyp.len())]).chain(ftyp.get(16..).unwrap_or_default().chunks_exact(4));
    brands.into_iter().any(|b| STILL_BRANDS.iter().any(|s| &s[..] == b))
}

/// libheif, initialised once: each `LibHeif` dropped would deinitialise it, and the next decode
/// set up its decoders again.
fn libheif() -> &'static LibHeif {
    static LIBHEIF: std::sync::OnceLock<LibHeif> = std::sync::OnceLock::new();
    LIBHEIF.get_or_init(LibHeif::new)
}

fn open(bytes: &[u8]) -> Result<HeifContext<'_>, String> {
    HeifContext::read_from_bytes(bytes).map_err(|e| format!("not a readable HEIF image: {}", e.message))
}

/// Width and height of the primary image, upright (libheif reports them after rotation).
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    let context = open(bytes)?;
    let handle = context.primary_image_handle().map_err(|e| format!("the HEIF image has no primary image: {}", e.message))?;
    Ok((handle.width(), handle.height()))
}

/// Decodes the primary image to 8-bit RGB (RGBA when it has alpha), after `check` accepted its
/// size.
pub fn decode(bytes: &[u8], check: impl Fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    let context = open(bytes)?;
    let handle = context.primary_image_handle().map_err(|e| format!("the HEIF image has no primary image: {}", e.message))?;
    check(handle.width(), handle.height())?;
    let alpha = handle.has_alpha_channel();
    let chroma = if alpha { RgbChroma::Rgba } else { RgbChroma::Rgb };
    // 10-bit HDR photos (recent iPhones) come out as 8-bit like every other image.
    let mut options = DecodingOptions::new().ok_or("libheif cannot make decoding options")?;
    options.set_convert_hdr_to_8bit(true);
    let decoded = libheif().decode(&handle, ColorSpace::Rgb(chroma), Some(options)).map_err(|e| format!("the HEIF image does not decode: {}", e.message))?;
    let planes = decoded.planes();
    let plane = planes.interleaved.ok_or("libheif returned no interleaved RGB plane")?;
    let (w, h, stride) = (plane.width, plane.height, plane.stride);
    let channels = if alpha { 4 } else { 3 };
    let row = w as usize * channels;
    let mut pixels = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        pixels.extend_from_slice(plane.data.get(y * stride..y * stride + row).ok_or("libheif returned a short plane")?);
    }
    let image = match alpha {
        true => RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        false => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
    };
    image.ok_or_else(|| "libheif returned too few pixels".into())
}

/// Whether libheif can decode HEVC (HEIC) and AV1 (AVIF) here, by name.
pub fn decoders() -> Vec<(&'static str, bool)> {
    let has = |format| !libheif().decoder_descriptors(1, Some(format)).is_empty();
    vec![("HEIC", has(CompressionFormat::Hevc)), ("AVIF", has(CompressionFormat::Av1))]
}
