//! Bit-exact port of Pillow's `Image.resize` for 8-bit images
//! (`src/libImaging/Resample.c`: `precompute_coeffs`, `normalize_coeffs_8bpc`,
//! `ImagingResampleHorizontal_8bpc`, `ImagingResampleVertical_8bpc`, `ImagingResampleInner`).
//!
//! Pillow computes filter weights in `f64`, rounds them to fixed point with
//! [`PRECISION_BITS`] fractional bits and then convolves in `i32`. Every step that can
//! round is reproduced with the same operations in the same order; the integer
//! convolution itself is exact, so its summation order is free.

use std::ops::Range;

/// PIL's resampling filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BICUBIC` (a = -0.5, support 2).
    Bicubic,
    /// `Image.BILINEAR` (triangle, support 1).
    Bilinear,
}

/// Pillow's `Image.resize(size, filter)` on interleaved 8-bit pixels with `channels` channels
/// (3 or 4), bit for bit.
///
/// Every channel is filtered independently, as Pillow does for `RGB` and `RGBa`; an `RGBA`
/// image must be premultiplied first to match Pillow's `RGBA` resize. An empty target gives
/// an empty result (Pillow raises), an empty source gives black (as Pillow does).
pub fn resize(
    src: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    new_width: u32,
    new_height: u32,
    filter: Filter,
) -> Vec<u8> {
    let (width, height) = (width as usize, height as usize);
    let (new_width, new_height) = (new_width as usize, new_height as usize);
    assert!(
        channels == 3 || channels == 4,
        "channels must be 3 or 4, got {channels}"
    );
    assert_eq!(
        src.len(),
        width * height * channels,
        "src length must be width * height * channels"
    );
    if width == 0 || height == 0 {
        return vec![0; new_width * new_height * channels];
    }
    match channels {
        3 => resize_image::<3>(src, width, height, new_width, new_height, filter),
        _ => resize_image::<4>(src, width, height, new_width, new_height, filter),
    }
}

/// Fractional bits of the fixed-point weights: 8 bits of result, 2 spare bits for the
/// over- and undershoot of filters with negative lobes, within an `i32`.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Initial accumulator value, so that the final `>> PRECISION_BITS` rounds to nearest.
const ROUNDING_HALF: i32 = 1 << (PRECISION_BITS - 1);

/// `ImagingResampleInner` with box = whole image: horizontal pass over only the source rows
/// the vertical pass reads, then the vertical pass; a pass whose size is unchanged is skipped.
fn resize_image<const C: usize>(
    src: &[u8],
    width: usize,
    height: usize,
    new_width: usize,
    new_height: usize,
    filter: Filter,
) -> Vec<u8> {
    if new_width == 0 || new_height == 0 {
        return Vec::new();
    }
    let mut vertical = Coefficients::new(height, new_height, filter);
    let needs_vertical = new_height != height;
    if new_width == width {
        return if needs_vertical {
            vertical_pass::<C>(src, width, &vertical)
        } else {
            src.to_vec()
        };
    }

    let rows_used = vertical.input_span();
    let horizontal = Coefficients::new(width, new_width, filter);
    let narrowed = horizontal_pass::<C>(src, width, rows_used.clone(), &horizontal);
    if !needs_vertical {
        return narrowed;
    }
    // The intermediate image starts at the first used source row.
    vertical.shift_starts(rows_used.start);
    vertical_pass::<C>(&narrowed, new_width, &vertical)
}

/// Fixed-point filter weights for every output sample along one axis
/// (`precompute_coeffs` followed by `normalize_coeffs_8bpc`).
struct Coefficients {
    /// Per output sample: the first input index and the number of taps.
    bounds: Vec<(usize, usize)>,
    /// `ksize` weights per output sample; only the first `count` of each are used.
    weights: Vec<i32>,
    ksize: usize,
}

impl Coefficients {
    fn new(in_size: usize, out_size: usize, filter: Filter) -> Self {
        // Pillow passes the box edges as `float`; the width is exact in f32 for any real image.
        let scale = (in_size as f32) as f64 / out_size as f64;
        // Downscaling widens the filter so every input pixel contributes; upscaling does not narrow it.
        let filter_scale = scale.max(1.0);
        let support = filter.support() * filter_scale;
        let ksize = support.ceil() as usize * 2 + 1;

        let mut bounds = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; out_size * ksize];
        let mut taps = vec![0f64; ksize];
        for (out_index, out_weights) in weights.chunks_exact_mut(ksize).enumerate() {
            let center = (out_index as f64 + 0.5) * scale;
            let (first, count) = input_window(center, support, in_size);
            let taps = &mut taps[..count];
            for (tap, weight) in taps.iter_mut().enumerate() {
                // Same expression order as Pillow: (int - double + 0.5) * (1 / filterscale).
                *weight =
                    filter.weight(((tap + first) as f64 - center + 0.5) * (1.0 / filter_scale));
            }
            normalize_to_unit_sum(taps);
            for (fixed, &weight) in out_weights.iter_mut().zip(taps.iter()) {
                *fixed = to_fixed_point(weight);
            }
            bounds.push((first, count));
        }
        Coefficients {
            bounds,
            weights,
            ksize,
        }
    }

    /// The input indices read by any output sample (`ybox_first..ybox_last` in Pillow).
    fn input_span(&self) -> Range<usize> {
        let first = self.bounds.first().map_or(0, |&(start, _)| start);
        let last = self.bounds.last().map_or(0, |&(start, taps)| start + taps);
        first..last
    }

    fn shift_starts(&mut self, offset: usize) {
        for (start, _) in &mut self.bounds {
            *start -= offset;
        }
    }

    fn out_size(&self) -> usize {
        self.bounds.len()
    }

    /// The first input index and the weights of one output sample.
    fn taps(&self, out_index: usize) -> (usize, &[i32]) {
        let (start, count) = self.bounds[out_index];
        let offset = out_index * self.ksize;
        (start, &self.weights[offset..offset + count])
    }
}

/// First input index and tap count around `center`, clamped to the image.
/// `as i32` truncates toward zero like C's `(int)`; negatives clamp to 0 either way.
fn input_window(center: f64, support: f64, in_size: usize) -> (usize, usize) {
    let first = ((center - support + 0.5) as i32).max(0) as usize;
    let end = ((center + support + 0.5) as i32).min(in_size as i32) as usize;
    (first, end - first)
}

/// Divides by the sum (unless it is zero) so a flat image stays flat.
fn normalize_to_unit_sum(weights: &mut [f64]) {
    let sum: f64 = weights.iter().sum();
    if sum != 0.0 {
        for weight in weights {
            *weight /= sum;
        }
    }
}

/// `normalize_coeffs_8bpc`: round half away from zero by adding ±0.5 and truncating.
fn to_fixed_point(weight: f64) -> i32 {
    let scaled = weight * (1 << PRECISION_BITS) as f64;
    if weight < 0.0 {
        (-0.5 + scaled) as i32
    } else {
        (0.5 + scaled) as i32
    }
}

/// Pillow's `clip8`: drop the fraction (arithmetic shift, i.e. floor) and clamp to a byte.
fn clip8(accumulator: i32) -> u8 {
    (accumulator >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `ImagingResampleHorizontal_8bpc` over the source rows in `rows`.
fn horizontal_pass<const C: usize>(
    src: &[u8],
    width: usize,
    rows: Range<usize>,
    coeffs: &Coefficients,
) -> Vec<u8> {
    let out_width = coeffs.out_size();
    let mut out = Vec::with_capacity(rows.len() * out_width * C);
    for row in src
        .chunks_exact(width * C)
        .skip(rows.start)
        .take(rows.len())
    {
        for out_x in 0..out_width {
            let (start, weights) = coeffs.taps(out_x);
            let window = &row[start * C..(start + weights.len()) * C];
            let mut sums = [ROUNDING_HALF; C];
            for (pixel, &weight) in window.chunks_exact(C).zip(weights) {
                for (sum, &value) in sums.iter_mut().zip(pixel) {
                    *sum += value as i32 * weight;
                }
            }
            out.extend(sums.map(clip8));
        }
    }
    out
}

/// `ImagingResampleVertical_8bpc`. Pillow sums per pixel over the taps; here each tap row is
/// added across the whole output row at once (cache- and SIMD-friendly). Integer addition is
/// exact, so the result is identical.
fn vertical_pass<const C: usize>(src: &[u8], width: usize, coeffs: &Coefficients) -> Vec<u8> {
    let row_len = width * C;
    let mut out = Vec::with_capacity(coeffs.out_size() * row_len);
    let mut sums = vec![0i32; row_len];
    for out_y in 0..coeffs.out_size() {
        let (start, weights) = coeffs.taps(out_y);
        sums.fill(ROUNDING_HALF);
        for (row, &weight) in src.chunks_exact(row_len).skip(start).zip(weights) {
            for (sum, &value) in sums.iter_mut().zip(row) {
                *sum += value as i32 * weight;
            }
        }
        out.extend(sums.iter().map(|&sum| clip8(sum)));
    }
    out
}

impl Filter {
    /// Half-width of the kernel in (unscaled) input pixels.
    fn support(self) -> f64 {
        match self {
            Filter::Bicubic => 2.0,
            Filter::Bilinear => 1.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Bicubic => bicubic_weight(x),
            Filter::Bilinear => bilinear_weight(x),
        }
    }
}

/// Keys' cubic convolution with a = -0.5, written exactly as Pillow's `bicubic_filter`
/// so every intermediate rounds the same way.
fn bicubic_weight(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Triangle filter (Pillow's `bilinear_filter`).
fn bilinear_weight(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Pillow's `Image.resize(size, NEAREST)` (what it does to palette images whatever the filter):
/// `ImagingScaleAffine`, whose source positions start at half a step and are accumulated in
/// `f64` step by step, as here, so that they truncate to the same pixels.
pub fn resize_nearest(src: &[u8], width: u32, height: u32, channels: usize, new_width: u32, new_height: u32) -> Vec<u8> {
    let columns = nearest_positions(width as usize, new_width as usize);
    let rows = nearest_positions(height as usize, new_height as usize);
    let stride = width as usize * channels;
    let mut out = Vec::with_capacity(columns.len() * rows.len() * channels);
    for &y in &rows {
        let row = &src[y * stride..][..stride];
        for &x in &columns {
            out.extend_from_slice(&row[x * channels..][..channels]);
        }
    }
    out
}

fn nearest_positions(in_size: usize, out_size: usize) -> Vec<usize> {
    let step = in_size as f64 / out_size as f64;
    let mut at = step * 0.5;
    (0..out_size)
        .map(|_| {
            let index = (at as usize).min(in_size.saturating_sub(1));
            at += step;
            index
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{nearest_positions, resize, Filter};

    #[test]
    fn nearest_takes_the_pixel_under_each_centre() {
        assert_eq!(nearest_positions(4, 2), vec![1, 3]);
        assert_eq!(nearest_positions(2, 5), vec![0, 0, 1, 1, 1]);
        assert_eq!(nearest_positions(3, 3), vec![0, 1, 2]);
    }

    #[test]
    fn unchanged_sizes_copy_and_flat_images_stay_flat() {
        let flat = vec![200u8; 40 * 30 * 4];
        assert_eq!(resize(&flat, 40, 30, 4, 40, 30, Filter::Bicubic), flat);
        let small = resize(&flat, 40, 30, 4, 17, 9, Filter::Bicubic);
        assert!(small.len() == 17 * 9 * 4 && small.iter().all(|&v| v == 200));
        let big = resize(&flat[..40 * 30 * 3], 40, 30, 3, 90, 61, Filter::Bilinear);
        assert!(big.len() == 90 * 61 * 3 && big.iter().all(|&v| v == 200));
    }

    #[test]
    fn bicubic_overshoot_is_clipped_at_both_ends() {
        // A hard black/white edge rings under bicubic; PIL clips the ringing to 0..=255.
        let edge: Vec<u8> = (0..64).flat_map(|x| [if x < 32 { 0u8 } else { 255 }; 3]).collect();
        let out = resize(&edge, 64, 1, 3, 23, 1, Filter::Bicubic);
        assert_eq!((out[0], out[out.len() - 1]), (0, 255));
    }
}
