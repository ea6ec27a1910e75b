//! JPEG XL through jxl-oxide (pure Rust, so a hostile file cannot corrupt memory); the image is
//! rendered upright, as its header orients it, and CMYK in sRGB.

use std::io::Cursor;

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};
use jxl_oxide::{EnumColourEncoding, InitializeResult, JxlImage, RenderingIntent};

/// A bare codestream (`FF 0A`) or the ISOBMFF container's signature box.
pub fn is_jxl(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(&[0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', 0x0D, 0x0A, 0x87, 0x0A])
}

/// Width and height, upright, from the header alone.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    let mut header = JxlImage::builder().build_uninit();
    header.feed_bytes(bytes).map_err(unreadable)?;
    match header.try_init().map_err(unreadable)? {
        InitializeResult::Initialized(image) => Ok((image.width(), image.height())),
        InitializeResult::NeedMoreData(_) => Err("the JPEG XL image is truncated (in its header)".into()),
    }
}

/// Decodes the first frame, after `check` accepted its size. A file cut short is refused: the
/// decoder would render the part that arrived, progressively, as if it were the photo.
pub fn decode(bytes: &[u8], check: impl Fn(u32, u32) -> Result<(), String>) -> Result<DynamicImage, String> {
    let mut image = JxlImage::builder().read(Cursor::new(bytes)).map_err(unreadable)?;
    check(image.width(), image.height())?;
    if image.num_loaded_keyframes() == 0 {
        return Err("the JPEG XL image is truncated (its first frame is incomplete)".into());
    }
    if image.pixel_format().has_black() {
        image.request_color_encoding(EnumColourEncoding::srgb(RenderingIntent::Relative));
    }
    let render = image.render_frame(0).map_err(|e| format!("the JPEG XL image does not decode: {e}"))?;
    let mut stream = render.stream();
    let (w, h, channels) = (stream.width(), stream.height(), stream.channels() as usize);
    let mut pixels = vec![0u8; w as usize * h as usize * channels];
    stream.write_to_buffer(&mut pixels);
    let decoded = match channels {
        1 => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        2 => GrayAlphaImage::from_raw(w, h, pixels).map(DynamicImage::ImageLumaA8),
        3 => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        4 => RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        n => return Err(format!("the JPEG XL image has {n} colour channels")),
    };
    decoded.ok_or_else(|| "the JPEG XL decoder returned too few pixels".into())
}

fn unreadable(e: impl std::fmt::Display) -> String {
    format!("not a readable JPEG XL image: {e}")
}
