//! JPEG XL through jxl-oxide (pure Rust, so a hostile file cannot corrupt memory); the image is
//! rendered upright, as its header orients it.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder};
use jxl_oxide::integration::JxlDecoder;

/// A bare codestream (`FF 0A`) or the ISOBMFF container's signature box.
pub fn is_jxl(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(&[0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', 0x0D, 0x0A, 0x87, 0x0A])
}

fn open(bytes: &[u8]) -> Result<JxlDecoder<Cursor<&[u8]>>, String> {
    JxlDecoder::new(Cursor::new(bytes)).map_err(|e| format!("not a readable JPEG XL image: {e}"))
}

/// Width and height, upright, from the header.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    Ok(open(bytes)?.dimensions())
}

/// Decodes the first frame, after `check` accepted its size. A file cut short is refused: the
/// decoder would render the part that arrived, progressively, as if it were the photo.
pub fn decode(bytes: &[u8], check: impl Fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    let decoder = open(bytes)?;
    let (w, h) = decoder.dimensions();
    check(w, h)?;
    let parsed = jxl_oxide::JxlImage::builder().read(Cursor::new(bytes)).map_err(|e| format!("not a readable JPEG XL image: {e}"))?;
    if parsed.num_loaded_keyframes() == 0 {
        return Err("the JPEG XL image is truncated (its first frame is incomplete)".into());
    }
    DynamicImage::from_decoder(decoder).map_err(|e| format!("the JPEG XL image does not decode: {e}"))
}
