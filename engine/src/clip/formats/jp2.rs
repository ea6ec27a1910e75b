//! JPEG 2000 (a JP2 file, or a bare codestream) through hayro-jpeg2000: pure Rust, so a hostile
//! file cannot corrupt memory, and any panic in it is caught and made the file's error, since
//! it is younger than the other decoders. CMYK is turned into RGB; an ICC-based image is taken
//! by its channel count (its profile is not applied). Like a JPEG's DCT scaling, indexing can
//! decode fewer wavelet resolution levels: each one skipped halves both sides.

use std::panic::{catch_unwind, AssertUnwindSafe};

use hayro_jpeg2000::{ColorSpace, DecodeSettings, Image};
use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

/// The JP2 signature box, or a codestream's SOC and SIZ markers.
pub fn is_jp2(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x00\x00\x00\x0C\x6A\x50\x20\x20") || bytes.starts_with(b"\xFF\x4F\xFF\x51")
}

/// Width and height from the header alone.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    guarded(|| {
        let image = Image::new(bytes, &DecodeSettings::default()).map_err(unreadable)?;
        Ok((image.width(), image.height()))
    })
}

/// Decodes the image, after `check` accepted its size.
pub fn decode(bytes: &[u8], check: impl Fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    guarded(|| decode_with(bytes, &DecodeSettings::default(), check))
}

/// Decoded at the fewest resolution levels that keep the short side at least `min_short`, and
/// the full size; None when no level can be skipped. `check` sees the full size first.
pub fn decode_scaled(bytes: &[u8], min_short: u32, check: impl Fn(u32, u32) -> Result<(), String>) -> Result<Option<(DynamicImage, (u32, u32))>, String> {
    let (w, h) = dimensions(bytes)?;
    if w.min(h) / 2 < min_short.max(1) {
        return Ok(None);
    }
    check(w, h)?;
    // Levels are skipped while both sides stay at least the target's.
    let settings = DecodeSettings { target_resolution: Some((min_short, min_short)), ..DecodeSettings::default() };
    let image = guarded(|| decode_with(bytes, &settings, |_, _| Ok(())))?;
    Ok(Some((image, (w, h))))
}

fn decode_with(bytes: &[u8], settings: &DecodeSettings, check: impl Fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    let image = Image::new(bytes, settings).map_err(unreadable)?;
    let (w, h) = (image.width(), image.height());
    check(w, h)?;
    let channels = usize::from(image.color_space().num_channels());
    let (alpha, cmyk) = (image.has_alpha(), matches!(image.color_space(), ColorSpace::CMYK));
    let pixels = image.decode().map_err(|e| format!("the JPEG 2000 image does not decode: {e}"))?;
    let decoded = match (channels, alpha) {
        (1, false) => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        (1, true) => GrayAlphaImage::from_raw(w, h, pixels).map(DynamicImage::ImageLumaA8),
        (3, false) => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        (3, true) => RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        (4, false) if cmyk => RgbImage::from_raw(w, h, cmyk_to_rgb(&pixels)).map(DynamicImage::ImageRgb8),
        (n, _) => return Err(format!("the JPEG 2000 image has {n} colour channels")),
    };
    decoded.ok_or_else(|| "the JPEG 2000 decoder returned too few pixels".into())
}

/// Uncalibrated CMYK (as JPEG 2000 stores it, not inverted) to RGB.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let ink = |c: u8, k: u8| ((255 - u16::from(c)) * (255 - u16::from(k)) / 255) as u8;
    cmyk.chunks_exact(4).flat_map(|p| [ink(p[0], p[3]), ink(p[1], p[3]), ink(p[2], p[3])]).collect()
}

/// `read`, with a panic inside the decoder made an error for this file alone.
fn guarded<T>(read: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|_| Err("the JPEG 2000 decoder failed on this file".into()))
}

fn unreadable(e: impl std::fmt::Display) -> String {
    format!("not a readable JPEG 2000 image: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_turns_into_rgb_and_signatures_are_recognised() {
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255]), [255, 255, 255, 0, 255, 255, 0, 0, 0]);
        assert!(is_jp2(b"\x00\x00\x00\x0C\x6A\x50\x20\x20\x0D\x0A\x87\x0A"));
        assert!(is_jp2(b"\xFF\x4F\xFF\x51\x00\x2F"));
        assert!(!is_jp2(b"\xFF\xD8\xFF\xE0"));
        assert!(dimensions(b"\xFF\x4F\xFF\x51\x00\x2F").is_err(), "a header cut short");
    }
}
