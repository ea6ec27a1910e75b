//! Image decoding and CLIP preprocessing, matching open_clip's transform on PIL images:
//! EXIF orientation, RGB (alpha dropped, as `convert("RGB")`), short side to `size` with bicubic
//! (Catmull-Rom, antialiased like PIL), center crop with round-half-even offsets, /255, mean/std.
//! Families that squash (SigLIP) resize both sides to `size` instead; some resample bilinearly.

use std::{io::Cursor, path::Path};

use fast_image_resize::{
    images::Image as FirImage, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::{
    formats, pil_resize,
    spec::{Interpolation, ResizeMode},
};
use crate::{EngineError, Result};

/// Decoded images larger than this many pixels are refused before any pixel memory is taken
/// (150 MP covers medium-format cameras; a 20000x20000 "header bomb" is 400 MP).
pub const MAX_PIXELS: u64 = 150_000_000;
/// Smaller images carry no content worth searching (tracking pixels, spacers).
pub const MIN_SIDE: u32 = 4;
const MAX_DECODE_BYTES: u64 = 2 << 30;
/// What a file that is no image this can read is told.
const UNSUPPORTED: &str = "not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF, AVIF, JPEG XL, DNG and camera RAW)";
/// Longer than this many times its short side is not a photo (a 1,000,000 x 4 PNG of a few KB
/// would otherwise be scaled up to 56 million by 224 pixels, tens of GB): refused.
pub const MAX_ASPECT: u32 = 256;
/// Beyond this aspect ratio only the middle of the long side is resized: the center crop never
/// reaches the rest, and resizing all of it would cost memory and time for nothing. Below it
/// the transform is exactly open_clip's.
const CROP_ASPECT: u32 = 16;

/// A decoded, upright image ready for the vision encoder.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `3 * size * size` floats, channels first.
    pub pixels: Vec<f32>,
    /// Size of the upright image before resizing.
    pub width: u32,
    /// Height in pixels of the upright image before resizing.
    pub height: u32,
}

/// A model's image preprocessing: square input size and per-channel normalisation.
#[derive(Debug, Clone)]
pub struct Preprocess {
    size: u32,
    mean: [f32; 3],
    std: [f32; 3],
    resize: ResizeMode,
    interpolation: Interpolation,
    /// Decode big JPEGs at a DCT scale whose short side stays at least twice `size`.
    scaled_decode: bool,
}

impl Preprocess {
    /// Preprocessing to `size` x `size` pixels, each RGB channel (scaled to 0..1) normalised with `mean` and `std`.
    pub fn new(size: u32, mean: [f32; 3], std: [f32; 3]) -> Self {
        Preprocess { size, mean, std, resize: ResizeMode::Shortest, interpolation: Interpolation::Bicubic, scaled_decode: false }
    }

    /// The same, resizing as a model family does (short side and crop, or squash) with its filter.
    pub fn with_resize(self, resize: ResizeMode, interpolation: Interpolation) -> Self {
        Preprocess { resize, interpolation, ..self }
    }

    /// The same, decoding big JPEGs at 1/2, 1/4 or 1/8 of their size (the DCT does it while
    /// decoding) when the short side stays at least twice the input size; else exactly.
    pub fn with_scaled_decode(self, scaled_decode: bool) -> Self {
        Preprocess { scaled_decode, ..self }
    }

    /// Whether big JPEGs are decoded at a DCT scale.
    pub fn scaled_decode(&self) -> bool {
        self.scaled_decode
    }

    /// Side of the square image the vision encoder takes, in pixels.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Floats per prepared image.
    pub fn len(&self) -> usize {
        3 * (self.size as usize).pow(2)
    }

    /// Reads, decodes and prepares one image file.
    pub fn load(&self, path: &Path) -> Result<Prepared> {
        self.load_with(path, |_| {})
    }

    /// Reads, decodes and prepares a file, showing the decoded image to `on_decoded` first.
    pub fn load_with(&self, path: &Path, on_decoded: impl FnOnce(&DynamicImage)) -> Result<Prepared> {
        let bytes = std::fs::read(path).map_err(|e| image_error(path, e.to_string()))?;
        self.prepare_bytes_with(&bytes, on_decoded).map_err(|reason| image_error(path, reason))
    }

    /// Decodes and prepares an encoded image; the error is a sentence for the user.
    pub fn prepare_bytes(&self, bytes: &[u8]) -> std::result::Result<Prepared, String> {
        self.prepare_bytes_with(bytes, |_| {})
    }

    /// As [`Preprocess::prepare_bytes`], showing the decoded image to `on_decoded` first.
    pub fn prepare_bytes_with(&self, bytes: &[u8], on_decoded: impl FnOnce(&DynamicImage)) -> std::result::Result<Prepared, String> {
        let _memory = reserve_for(bytes);
        let (image, (width, height)) = self.decode(bytes)?;
        on_decoded(&image);
        let pixels = self.prepare(image, Source::of(bytes))?;
        Ok(Prepared { pixels, width, height })
    }

    /// Decodes as this preprocessing does (scaled or exactly); returns the upright image and
    /// the upright size of the original.
    pub fn decode(&self, bytes: &[u8]) -> std::result::Result<(DynamicImage, (u32, u32)), String> {
        match self.scaled_decode {
            true => decode_at_least(bytes, 2 * self.size),
            false => decode(bytes).map(|image| {
                let dims = (image.width(), image.height());
                (image, dims)
            }),
        }
    }

    /// open_clip's transform on an upright decoded image from a `source` of that kind.
    pub fn prepare(&self, image: DynamicImage, source: Source) -> std::result::Result<Vec<f32>, String> {
        // Squashing keeps every pixel column, so only the crop may skip the far ends.
        let image = if self.resize == ResizeMode::Shortest { middle_of_very_long(image) } else { image };
        // PIL resizes before `convert("RGB")`, and resizes images with alpha premultiplied:
        // keep the alpha through the resize to get the same colours, then drop it.
        let pixels = if image.color().has_alpha() {
            let rgba = image.to_rgba8();
            Pixels { w: rgba.width(), h: rgba.height(), channels: 4, data: rgba.into_raw() }
        } else {
            let rgb = to_rgb(image);
            Pixels { w: rgb.width(), h: rgb.height(), channels: 3, data: rgb.into_raw() }
        };
        let (nw, nh) = match self.resize {
            ResizeMode::Shortest => resized_dims(pixels.w, pixels.h, self.size),
            ResizeMode::Squash => (self.size, self.size),
        };
        let resized = match source {
            Source::Indexed => resize_nearest(pixels, nw, nh),
            Source::Direct => resize(pixels, nw, nh, self.interpolation)?,
        };
        let mut out = vec![0.0; self.len()];
        self.crop_and_normalise(&resized, &mut out);
        Ok(out)
    }

    fn crop_and_normalise(&self, img: &Pixels, out: &mut [f32]) {
        let s = self.size as usize;
        let ch = img.channels;
        let left = center_offset(img.w, self.size) as usize;
        let top = center_offset(img.h, self.size) as usize;
        let stride = img.w as usize * ch;
        let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * self.std[c]));
        let shift: [f32; 3] = std::array::from_fn(|c| self.mean[c] / self.std[c]);
        for y in 0..s {
            let row = &img.data[(top + y) * stride + left * ch..][..s * ch];
            for (x, px) in row.chunks_exact(ch).enumerate() {
                for c in 0..3 {
                    out[c * s * s + y * s + x] = f32::from(px[c]) * scale[c] - shift[c];
                }
            }
        }
    }
}

/// What kind of pixels a file stores, as far as PIL's resizing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Colours direct (RGB, gray, with or without alpha).
    Direct,
    /// Palette indices (GIF, palette PNG and BMP) or 1-bit: PIL resizes these with NEAREST,
    /// whatever filter is asked for (averaging indices means nothing).
    Indexed,
}

impl Source {
    /// Reads the kind from the file's header.
    pub fn of(bytes: &[u8]) -> Source {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        let indexed = match bytes {
            [b'G', b'I', b'F', b'8', ..] => true,
            // IHDR follows the signature: bit depth at 24, colour type at 25 (3: palette; 0: gray).
            _ if bytes.starts_with(PNG) && bytes.len() > 25 => bytes[25] == 3 || (bytes[25] == 0 && bytes[24] == 1),
            // The bits per pixel of the info header, at 28.
            [b'B', b'M', ..] if bytes.len() > 29 => u16::from_le_bytes([bytes[28], bytes[29]]) <= 8,
            _ => false,
        };
        if indexed { Source::Indexed } else { Source::Direct }
    }
}

/// PIL's NEAREST resize: each output pixel takes the source pixel under its centre.
fn resize_nearest(img: Pixels, nw: u32, nh: u32) -> Pixels {
    let data = pil_resize::resize_nearest(&img.data, img.w, img.h, img.channels, nw, nh);
    Pixels { w: nw, h: nh, channels: img.channels, data }
}

pub(crate) fn image_error(path: &Path, reason: String) -> EngineError {
    EngineError::Image { path: path.to_path_buf(), reason }
}

/// The width and height an encoded image declares in its header, read without decoding it.
pub fn dimensions(bytes: &[u8]) -> std::result::Result<(u32, u32), String> {
    if let Some(container) = formats::sniff(bytes) {
        return formats::dimensions(container, bytes);
    }
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err(UNSUPPORTED.into());
    }
    reader.into_dimensions().map_err(|e| e.to_string())
}

/// Reads and decodes an image file (as [`decode`]) and hands the image to `use_image`, within
/// the process's decode budget.
pub fn with_decoded_file<T>(path: &Path, use_image: impl FnOnce(&DynamicImage) -> T) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| image_error(path, e.to_string()))?;
    let _memory = reserve_for(&bytes);
    let image = decode(&bytes).map_err(|reason| image_error(path, reason))?;
    Ok(use_image(&image))
}

/// Decodes a JPEG, RAW or JPEG 2000 at the smallest scale of its own decoder whose short side
/// stays at least `min_short` (other formats and small images exactly); returns the upright
/// image and the upright size of the original.
pub fn decode_at_least(bytes: &[u8], min_short: u32) -> std::result::Result<(DynamicImage, (u32, u32)), String> {
    if let Some(scaled) = decode_scaled_jpeg(bytes, min_short)? {
        return Ok(scaled);
    }
    let scaled = match formats::sniff(bytes) {
        Some(formats::Container::Raw) => formats::raw::decode_scaled(bytes, min_short, check_size)?,
        Some(formats::Container::Jp2) => formats::jp2::decode_scaled(bytes, min_short, check_size)?,
        _ => None,
    };
    if let Some(scaled) = scaled {
        return Ok(scaled);
    }
    let image = decode(bytes)?;
    let dims = (image.width(), image.height());
    Ok((image, dims))
}

/// As [`with_decoded_file`], decoded by [`decode_at_least`] `min_short`: a page for OCR needs
/// no 12 MP.
pub fn with_decoded_file_at_least<T>(path: &Path, min_short: u32, use_image: impl FnOnce(&DynamicImage) -> T) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| image_error(path, e.to_string()))?;
    let _memory = reserve_for(&bytes);
    let (image, _) = decode_at_least(&bytes, min_short).map_err(|reason| image_error(path, reason))?;
    Ok(use_image(&image))
}

/// Holds the decode budget for what `bytes` will take decoded (nothing for images that
/// [`decode`] refuses from their header anyway).
fn reserve_for(bytes: &[u8]) -> Option<super::budget::Reservation<'static>> {
    let (w, h) = dimensions(bytes).ok()?;
    let factor = formats::sniff(bytes).map_or(1, |container| formats::cost_factor(container, bytes));
    (u64::from(w) * u64::from(h) <= MAX_PIXELS).then(|| super::budget::budget().reserve(super::budget::decode_cost(w, h) * factor))
}

/// Decodes with memory limits checked from the header first, then applies EXIF orientation.
pub fn decode(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    // HEIF applies its own rotation (EXIF orientation there only repeats it); JPEG XL too.
    if let Some(container) = formats::sniff(bytes) {
        return formats::decode(container, bytes, check_size);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    match reader.format() {
        None => return Err(UNSUPPORTED.into()),
        Some(ImageFormat::Jpeg) => check_jpeg_complete(bytes)?,
        Some(_) => {}
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let (w, h) = decoder.dimensions();
    check_size(w, h)?;
    let orientation = decoder.orientation().map_err(|e| e.to_string())?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A JPEG decoded by libjpeg-turbo at the smallest DCT scale (1/8, 1/4, 1/2) whose short side
/// is still at least `min_short`, upright, with the upright size of the original; None when no
/// scale applies (not a JPEG, too small to scale, CMYK): the caller decodes it exactly. The same
/// checks as [`decode`] come first.
pub fn decode_scaled_jpeg(bytes: &[u8], min_short: u32) -> std::result::Result<Option<(DynamicImage, (u32, u32))>, String> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(None);
    }
    let mut header = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg).into_decoder().map_err(|e| e.to_string())?;
    let (w, h) = header.dimensions();
    // Checked only when scaling applies: otherwise the exact decode checks it.
    let Some(factor) = [8, 4, 2].into_iter().find(|f| w.min(h).div_ceil(*f) >= min_short) else { return Ok(None) };
    check_jpeg_complete(bytes)?;
    check_size(w, h)?;
    let orientation = header.orientation().map_err(|e| e.to_string())?;
    let mut decompressor = turbojpeg::Decompressor::new().map_err(|e| e.to_string())?;
    let scale = turbojpeg::ScalingFactor::new(1, factor as usize);
    decompressor.set_scaling_factor(scale).map_err(|e| e.to_string())?;
    let header = decompressor.read_header(bytes).map_err(|e| e.to_string())?;
    let format = match header.colorspace {
        turbojpeg::Colorspace::Gray => turbojpeg::PixelFormat::GRAY,
        turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK => return Ok(None),
        _ => turbojpeg::PixelFormat::RGB,
    };
    let scaled = header.scaled(scale);
    let channels = format.size();
    let mut target = turbojpeg::Image {
        pixels: vec![0u8; channels * scaled.width * scaled.height],
        width: scaled.width,
        pitch: channels * scaled.width,
        height: scaled.height,
        format,
    };
    decompressor.decompress(bytes, target.as_deref_mut()).map_err(|e| e.to_string())?;
    let (sw, sh) = (scaled.width as u32, scaled.height as u32);
    let image = match channels {
        1 => image::GrayImage::from_raw(sw, sh, target.pixels).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(sw, sh, target.pixels).map(DynamicImage::ImageRgb8),
    }
    .ok_or("the scaled JPEG decoder returned too few pixels")?;
    let (image, turned) = turn(image, orientation);
    Ok(Some((image, if turned { (h, w) } else { (w, h) })))
}

/// The image turned upright by `orientation`, and whether its sides swapped.
pub(crate) fn turn(mut image: DynamicImage, orientation: image::metadata::Orientation) -> (DynamicImage, bool) {
    image.apply_orientation(orientation);
    use image::metadata::Orientation::{Rotate270, Rotate270FlipH, Rotate90, Rotate90FlipH};
    (image, matches!(orientation, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH))
}

/// The size checks every decode makes before taking pixel memory.
fn check_size(w: u32, h: u32) -> std::result::Result<(), String> {
    check_picture_size(w, h, "a photo")
}

/// The size checks of a picture to search (an image, a video's display size): pixels, the
/// smallest side and the aspect; `what` names what a too long one is not.
pub fn check_picture_size(w: u32, h: u32, what: &str) -> std::result::Result<(), String> {
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("{w}x{h} is larger than the {} megapixel limit", MAX_PIXELS / 1_000_000));
    }
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(format!("{w}x{h} is too small to search (at least {MIN_SIDE}x{MIN_SIDE} pixels)"));
    }
    if w.max(h) / w.min(h) > MAX_ASPECT {
        return Err(format!("{w}x{h} is not {what}: its sides differ more than {MAX_ASPECT} times"));
    }
    Ok(())
}

/// The middle `CROP_ASPECT`:1 part of an image longer than that; other images unchanged.
fn middle_of_very_long(image: DynamicImage) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let short = w.min(h);
    let keep = short.saturating_mul(CROP_ASPECT);
    match (w > keep, h > keep) {
        (true, _) => image.crop_imm((w - keep) / 2, 0, keep, h),
        (_, true) => image.crop_imm(0, (h - keep) / 2, w, keep),
        _ => image,
    }
}

/// PIL's `convert("RGB")`: alpha is dropped, not composited; gray is replicated.
fn to_rgb(image: DynamicImage) -> RgbImage {
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    }
}

/// torchvision `Resize(size)`: short side to `size`, long side `int(size * long / short)`.
pub fn resized_dims(w: u32, h: u32, size: u32) -> (u32, u32) {
    let long_of = |long: u32, short: u32| (u64::from(size) * u64::from(long) / u64::from(short)) as u32;
    if w <= h { (size, long_of(h, w)) } else { (long_of(w, h), size) }
}

/// torchvision `CenterCrop`: `int(round((d - size) / 2))`, Python's round half to even.
pub fn center_offset(d: u32, size: u32) -> u32 {
    let twice = d.saturating_sub(size);
    let (half, odd) = (twice / 2, twice % 2 == 1);
    // (d - size) / 2 is either whole or ends in .5; .5 rounds to the even neighbour.
    if odd && half % 2 == 1 { half + 1 } else { half }
}

/// 8-bit interleaved pixels, RGB or RGBA.
struct Pixels {
    w: u32,
    h: u32,
    channels: usize,
    data: Vec<u8>,
}

fn resize(img: Pixels, nw: u32, nh: u32, interpolation: Interpolation) -> std::result::Result<Pixels, String> {
    if (nw, nh) == (img.w, img.h) {
        return Ok(img); // PIL returns an unchanged copy at the same size
    }
    if img.channels == 4 {
        return Ok(resize_premultiplied(img, nw, nh, interpolation));
    }
    let src = FirImage::from_vec_u8(img.w, img.h, img.data, PixelType::U8x3).map_err(|e| e.to_string())?;
    let mut dst = FirImage::new(nw, nh, PixelType::U8x3);
    // Catmull-Rom is PIL's bicubic (a = -0.5), Bilinear its triangle filter (SIMD; within a
    // level of PIL's rounding, which is invisible in opaque pixels).
    let filter = match interpolation {
        Interpolation::Bicubic => FilterType::CatmullRom,
        Interpolation::Bilinear => FilterType::Bilinear,
    };
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)).use_alpha(false);
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| e.to_string())?;
    Ok(Pixels { w: nw, h: nh, channels: 3, data: dst.into_vec() })
}

/// RGBA as PIL resizes it: premultiplied, resampled bit for bit as Pillow does, unpremultiplied.
/// Nearly transparent pixels turn a one-level difference in the premultiplied colour into
/// a hundred levels, so only Pillow's exact arithmetic gives Pillow's pixels.
fn resize_premultiplied(img: Pixels, nw: u32, nh: u32, interpolation: Interpolation) -> Pixels {
    let mut data = img.data;
    data.chunks_exact_mut(4).for_each(premultiply);
    let filter = match interpolation {
        Interpolation::Bicubic => pil_resize::Filter::Bicubic,
        Interpolation::Bilinear => pil_resize::Filter::Bilinear,
    };
    let mut data = pil_resize::resize(&data, img.w, img.h, 4, nw, nh, filter);
    data.chunks_exact_mut(4).for_each(unpremultiply);
    Pixels { w: nw, h: nh, channels: 4, data }
}

/// PIL's `rgbA2rgba`: colour times alpha over 255, rounded its way.
fn premultiply(px: &mut [u8]) {
    let alpha = u32::from(px[3]);
    for c in &mut px[..3] {
        let t = u32::from(*c) * alpha + 128;
        *c = (((t >> 8) + t) >> 8) as u8;
    }
}

/// PIL's `rgba2rgbA`: colour times 255 over alpha, truncated and clipped; alpha 0 and 255 kept as they are.
fn unpremultiply(px: &mut [u8]) {
    let alpha = u32::from(px[3]);
    if alpha != 0 && alpha != 255 {
        for c in &mut px[..3] {
            *c = (255 * u32::from(*c) / alpha).min(255) as u8;
        }
    }
}

/// A JPEG whose last scan has no end-of-image marker was cut off (PIL refuses it too). In
/// entropy-coded data 0xFF is always stuffed, so a marker found after the last SOS is real.
fn check_jpeg_complete(bytes: &[u8]) -> std::result::Result<(), String> {
    let find_last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (find_last(0xDA), find_last(0xD9)) {
        (Some(sos), Some(eoi)) if eoi > sos => Ok(()),
        _ => Err("the JPEG is truncated (no end-of-image marker)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x / 7 + y / 5) % 256) as u8]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg).unwrap();
        bytes
    }

    #[test]
    fn big_jpegs_decode_at_the_largest_scale_that_keeps_twice_the_input() {
        // Short side 1500: 1/2 gives 750 >= 448, 1/4 would give 375.
        let (image, original) = decode_scaled_jpeg(&jpeg(2000, 1500), 448).unwrap().unwrap();
        assert_eq!((image.width(), image.height(), original), (1000, 750, (2000, 1500)));
        // Short side 3600: 1/8 gives 450.
        let (image, _) = decode_scaled_jpeg(&jpeg(4800, 3600), 448).unwrap().unwrap();
        assert_eq!((image.width(), image.height()), (600, 450));
        let p = Preprocess::new(224, [0.0; 3], [1.0; 3]).with_scaled_decode(true);
        let prepared = p.prepare_bytes(&jpeg(2000, 1500)).unwrap();
        assert_eq!((prepared.width, prepared.height), (2000, 1500), "the original size is reported");
    }

    #[test]
    fn small_jpegs_and_other_formats_decode_exactly() {
        assert!(decode_scaled_jpeg(&jpeg(800, 600), 448).unwrap().is_none(), "1/2 would go under 448");
        let mut png = Vec::new();
        RgbImage::new(2000, 1500).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        assert!(decode_scaled_jpeg(&png, 448).unwrap().is_none());
        let mut cut = jpeg(2000, 1500);
        cut.truncate(cut.len() / 2);
        assert!(decode_scaled_jpeg(&cut, 448).unwrap_err().contains("truncated"));
    }

    #[test]
    fn scaled_and_exact_decoding_prepare_nearly_the_same_pixels() {
        let bytes = jpeg(3000, 2000);
        let exact = Preprocess::new(224, [0.0; 3], [1.0; 3]);
        let scaled = exact.clone().with_scaled_decode(true);
        let (a, b) = (exact.prepare_bytes(&bytes).unwrap().pixels, scaled.prepare_bytes(&bytes).unwrap().pixels);
        let mean_difference = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(mean_difference < 0.02, "mean difference {mean_difference} of 1");
    }

    /// The mean absolute difference of the pixels prepared from `bytes` exactly and scaled, and
    /// the upright size each reports.
    fn exact_vs_scaled(bytes: &[u8]) -> (f32, (u32, u32), (u32, u32)) {
        let exact = Preprocess::new(224, [0.0; 3], [1.0; 3]);
        let scaled = exact.clone().with_scaled_decode(true);
        let (a, b) = (exact.prepare_bytes(bytes).unwrap(), scaled.prepare_bytes(bytes).unwrap());
        let mean_difference = a.pixels.iter().zip(&b.pixels).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.pixels.len() as f32;
        (mean_difference, (a.width, a.height), (b.width, b.height))
    }

    #[test]
    fn a_big_exif_rotated_jpeg_is_turned_upright_after_scaled_decoding() {
        use crate::media::photo_meta::testing::{
            exif::{Field, In, Tag, Value},
            exif_tiff, jpeg_with_app1,
        };
        let orientation = Field { tag: Tag::Orientation, ifd_num: In::PRIMARY, value: Value::Short(vec![6]) };
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend(exif_tiff(&[orientation]));
        let bytes = jpeg_with_app1(&jpeg(2400, 1600), &payload);
        let (image, original) = decode_scaled_jpeg(&bytes, 448).unwrap().unwrap();
        assert_eq!((image.width(), image.height(), original), (800, 1200, (1600, 2400)), "1/2 scale, turned a quarter");
        let (difference, exact_size, scaled_size) = exact_vs_scaled(&bytes);
        assert_eq!(exact_size, scaled_size);
        assert!(difference < 0.02, "mean difference {difference} of 1");
    }

    #[test]
    fn a_big_cmyk_jpeg_falls_back_to_the_exact_decode() {
        let (w, h) = (2000usize, 1500usize);
        let pixels: Vec<u8> = (0..w * h).flat_map(|i| [(i % 251) as u8, (i / w % 241) as u8, 40, 10]).collect();
        let cmyk = turbojpeg::Image { pixels, width: w, pitch: 4 * w, height: h, format: turbojpeg::PixelFormat::CMYK };
        let bytes = turbojpeg::compress(cmyk.as_deref(), 90, turbojpeg::Subsamp::None).unwrap().to_vec();
        assert!(decode_scaled_jpeg(&bytes, 448).unwrap().is_none(), "CMYK is not scaled");
        let (difference, exact_size, scaled_size) = exact_vs_scaled(&bytes);
        assert_eq!((difference, exact_size, scaled_size), (0.0, (2000, 1500), (2000, 1500)), "the same exact decode both ways");
    }

    #[test]
    fn resized_dims_follow_torchvision() {
        assert_eq!(resized_dims(640, 480, 224), (298, 224));
        assert_eq!(resized_dims(480, 640, 224), (224, 298));
        assert_eq!(resized_dims(12, 9, 224), (298, 224));
        assert_eq!(resized_dims(224, 224, 224), (224, 224));
        assert_eq!(resized_dims(4000, 3000, 224), (298, 224));
    }

    #[test]
    fn center_offsets_round_half_to_even() {
        // (d - 224) / 2: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3 -> 3, 37 -> 37
        assert_eq!(center_offset(225, 224), 0);
        assert_eq!(center_offset(227, 224), 2);
        assert_eq!(center_offset(229, 224), 2);
        assert_eq!(center_offset(230, 224), 3);
        assert_eq!(center_offset(298, 224), 37);
        assert_eq!(center_offset(224, 224), 0);
    }

    #[test]
    fn normalisation_uses_mean_and_std_per_channel() {
        let p = Preprocess::new(4, [0.5, 0.25, 0.0], [0.5, 0.25, 1.0]);
        let img = RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 51]));
        let out = p.prepare(DynamicImage::ImageRgb8(img), Source::Direct).unwrap();
        assert_eq!(out.len(), 48);
        assert!((out[0] - 1.0).abs() < 1e-6); // (1 - 0.5) / 0.5
        assert!((out[16] + 1.0).abs() < 1e-6); // (0 - 0.25) / 0.25
        assert!((out[32] - 0.2).abs() < 1e-6); // 0.2
    }

    #[test]
    fn a_cut_off_jpeg_is_refused() {
        let mut jpeg = Vec::new();
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(32, 32, image::Rgb([9, 99, 199])));
        img.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
        assert!(decode(&jpeg).is_ok());
        let err = decode(&jpeg[..jpeg.len() - 2]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn absurd_aspect_ratios_are_refused_and_long_panoramas_cropped() {
        let mut png = Vec::new();
        let strip = DynamicImage::ImageRgb8(RgbImage::from_pixel(2000, 4, image::Rgb([200, 30, 30])));
        strip.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        assert!(decode(&png).unwrap_err().contains("sides differ more than 256 times"));

        let panorama = DynamicImage::ImageRgb8(RgbImage::from_fn(4000, 100, |x, _| image::Rgb([(x / 16) as u8, 0, 0])));
        let cropped = middle_of_very_long(panorama.clone());
        assert_eq!((cropped.width(), cropped.height()), (1600, 100));
        let p = Preprocess::new(32, [0.0; 3], [1.0; 3]);
        assert_eq!(p.prepare(panorama, Source::Direct).unwrap().len(), 3 * 32 * 32);
        let photo = DynamicImage::ImageRgb8(RgbImage::new(640, 480));
        assert_eq!(middle_of_very_long(photo).width(), 640, "photos keep open_clip's exact transform");
    }

    #[test]
    fn palette_files_are_told_apart_by_their_headers() {
        let fixture = |name: &str| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/images").join(name)).unwrap();
        assert_eq!(Source::of(&fixture("palette.gif")), Source::Indexed);
        for direct in ["rgba.png", "gray.png", "photo.jpg", "bitmap.bmp", "lossy.webp"] {
            assert_eq!(Source::of(&fixture(direct)), Source::Direct, "{direct}");
        }
        let png_header = |bit_depth: u8, colour_type: u8| {
            let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x08\0\0\0\x08".to_vec();
            bytes.extend([bit_depth, colour_type, 0, 0, 0]);
            bytes
        };
        assert_eq!(Source::of(&png_header(8, 3)), Source::Indexed, "palette PNG");
        assert_eq!(Source::of(&png_header(1, 0)), Source::Indexed, "1-bit gray is PIL's mode 1, resized NEAREST too");
        assert_eq!(Source::of(&png_header(8, 0)), Source::Direct);
    }

    #[test]
    fn alpha_is_dropped_not_composited() {
        let rgba = image::RgbaImage::from_pixel(2, 2, image::Rgba([10, 20, 30, 0]));
        assert_eq!(to_rgb(DynamicImage::ImageRgba8(rgba)).get_pixel(0, 0).0, [10, 20, 30]);
    }
}
