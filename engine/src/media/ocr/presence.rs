//! A fast guess, made on the decode threads while a photo is in memory, at whether it shows
//! printed words: Tesseract takes about a second a page, so it reads only the photos this picks.
//!
//! Print is lines of glyphs: blobs of ink, darker (or lighter) than their surroundings, of about
//! one height, side by side with small gaps, and of varied widths (an `m` beside an `i`). The
//! line they make holds two tones, ink and paper, and little else. Windows on a façade, leaves
//! or fur make blobs in rows too, but in more than two tones; dashes and barcodes are rows of
//! one width. The thresholds were set on the labelled set (scripts/make-ocr-set.py) and the
//! sample photos at their own size, 640x480 and 12 MP with grain.

use std::ops::RangeInclusive;

use image::{DynamicImage, GrayImage};

/// Long side of the working copy: small print stays a few pixels high, the test stays cheap.
const WORK_SIDE: u32 = 768;
/// Half the side of the window whose mean brightness a pixel of ink differs from: about a glyph.
const RADIUS: u32 = 7;
/// How much darker (or lighter) than its surroundings a pixel of ink is.
const INK_CONTRAST: u32 = 25;
/// A glyph's height in working pixels, its widest shape (a word whose letters touch) and the
/// share of its box its ink covers (a solid block and a thin frame are no glyphs).
const GLYPH_HEIGHT: RangeInclusive<u32> = 6..=100;
const MAX_GLYPH_ASPECT: u32 = 8;
const GLYPH_FILL: RangeInclusive<f32> = 0.08..=0.92;
/// Glyphs in a row for a line, and what its glyphs' widths spread by (std / mean) at least.
const MIN_LINE: usize = 4;
const MIN_WIDTH_SPREAD: f32 = 0.10;
/// Share of a line's variance of brightness that two tones explain (Otsu's split).
const MIN_TWO_TONES: f32 = 0.84;
/// Glyphs in lines of print, for the photo to be read.
const MIN_GLYPHS_IN_LINES: usize = 8;

/// Whether `image` probably shows printed words.
pub fn likely_text(image: &DynamicImage) -> bool {
    let gray = working_copy(image);
    let glyphs = glyphs(&gray, &ink_of(&gray));
    let glyphs_in_lines: usize = [DARK, LIGHT]
        .into_iter()
        .flat_map(|ink| lines(glyphs.iter().filter(|(_, of)| *of == ink).map(|(b, _)| *b).collect()))
        .filter(|line| reads_as_print(&gray, line))
        .map(|line| line.len())
        .sum();
    glyphs_in_lines >= MIN_GLYPHS_IN_LINES
}

/// The image in grey, shrunk by averaging to at most `WORK_SIDE` on its long side, in integer
/// arithmetic (the image crate's float conversions cost more than the test itself).
fn working_copy(image: &DynamicImage) -> GrayImage {
    let gray = match image {
        DynamicImage::ImageLuma8(gray) => std::borrow::Cow::Borrowed(gray),
        DynamicImage::ImageRgb8(rgb) => std::borrow::Cow::Owned(grey_of(rgb.width(), rgb.height(), rgb.as_raw(), 3)),
        DynamicImage::ImageRgba8(rgba) => std::borrow::Cow::Owned(grey_of(rgba.width(), rgba.height(), rgba.as_raw(), 4)),
        other => std::borrow::Cow::Owned(other.to_luma8()),
    };
    let (w, h) = gray.dimensions();
    let long = w.max(h);
    if long <= WORK_SIDE {
        return gray.into_owned();
    }
    let size = |side: u32| ((u64::from(side) * u64::from(WORK_SIDE) / u64::from(long)) as u32).max(1);
    shrink(&gray, size(w), size(h))
}

/// Luma (ITU-R 601 weights, as Pillow's `convert("L")`) of interleaved 8-bit pixels whose first
/// three channels are red, green and blue.
fn grey_of(w: u32, h: u32, pixels: &[u8], channels: usize) -> GrayImage {
    let grey = pixels.chunks_exact(channels).map(|p| ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 32768) >> 16) as u8).collect();
    GrayImage::from_raw(w, h, grey).expect("one grey value per pixel")
}

/// `gray` shrunk to `nw` x `nh`, each pixel the mean of the source pixels under it.
fn shrink(gray: &GrayImage, nw: u32, nh: u32) -> GrayImage {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let (nw, nh) = (nw as usize, nh as usize);
    let span = |i: usize, n: usize, of: usize| (i * of / n, ((i + 1) * of / n).max(i * of / n + 1));
    let columns: Vec<(usize, usize)> = (0..nw).map(|x| span(x, nw, w)).collect();
    let mut out = Vec::with_capacity(nw * nh);
    let mut sums = vec![0u32; w];
    for y in 0..nh {
        let (y0, y1) = span(y, nh, h);
        sums.iter_mut().for_each(|s| *s = 0);
        for row in gray.as_raw()[y0 * w..y1 * w].chunks_exact(w) {
            sums.iter_mut().zip(row).for_each(|(s, &p)| *s += u32::from(p));
        }
        out.extend(columns.iter().map(|&(x0, x1)| (sums[x0..x1].iter().sum::<u32>() / ((x1 - x0) * (y1 - y0)) as u32) as u8));
    }
    GrayImage::from_raw(nw as u32, nh as u32, out).expect("one grey value per pixel")
}

/// What a pixel is: paper (0), or ink darker or lighter than its surroundings.
const DARK: u8 = 1;
const LIGHT: u8 = 2;

/// Each pixel's ink, against the mean of the window of `RADIUS` around it (cut at the edges).
/// The window sums slide: along each row, then down the columns, a few additions a pixel.
fn ink_of(gray: &GrayImage) -> Vec<u8> {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let pixels = gray.as_raw();
    let radius = RADIUS as usize;
    let window = |i: usize, n: usize| (i.saturating_sub(radius), (i + radius + 1).min(n));
    let across: Vec<u32> = (0..w).map(|x| window(x, w)).map(|(a, b)| (b - a) as u32).collect();
    // Each row's sums across, computed once as it enters the column sums (at y - radius) and
    // kept in a ring of 2 radius + 1 rows until it leaves them (after y + radius).
    let row_sums = |y: usize, out: &mut [u32]| {
        let row = &pixels[y * w..][..w];
        let mut sum: u32 = row[..radius.min(w)].iter().map(|&p| u32::from(p)).sum();
        for x in 0..w {
            if x + radius < w {
                sum += u32::from(row[x + radius]);
            }
            if x > radius {
                sum -= u32::from(row[x - radius - 1]);
            }
            out[x] = sum;
        }
    };
    let ring_rows = 2 * radius + 1;
    let mut ring = vec![0u32; ring_rows * w];
    let mut columns = vec![0u32; w];
    let enter = |y: usize, ring: &mut [u32], columns: &mut [u32]| {
        let slot = &mut ring[(y % ring_rows) * w..][..w];
        row_sums(y, slot);
        columns.iter_mut().zip(slot.iter()).for_each(|(c, s)| *c += s);
    };
    for y in 0..radius.min(h) {
        enter(y, &mut ring, &mut columns);
    }
    let mut ink = vec![0u8; w * h];
    for y in 0..h {
        if y > radius {
            // Leaves before the row that takes its slot enters.
            let slot = &ring[((y - radius - 1) % ring_rows) * w..][..w];
            columns.iter_mut().zip(slot).for_each(|(c, s)| *c -= s);
        }
        if y + radius < h {
            enter(y + radius, &mut ring, &mut columns);
        }
        let (y0, y1) = window(y, h);
        let down = (y1 - y0) as u32;
        let (row, out) = (&pixels[y * w..][..w], &mut ink[y * w..][..w]);
        for x in 0..w {
            out[x] = ink_at(u32::from(row[x]), columns[x], across[x] * down);
        }
    }
    ink
}

/// A pixel of brightness `value` against a window summing to `sum` over `count` pixels.
#[inline]
fn ink_at(value: u32, sum: u32, count: u32) -> u8 {
    // Without branches: a photo's pixels fall either way at random.
    let dark = u8::from((value + INK_CONTRAST) * count < sum);
    let light = u8::from(value * count > sum + INK_CONTRAST * count);
    dark * DARK | light * LIGHT
}

/// A blob's bounding box, in working pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bounds {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Bounds {
    fn right(&self) -> u32 {
        self.x + self.w
    }
}

/// The blobs of one ink (4-connected) shaped like glyphs, with their ink.
fn glyphs(gray: &GrayImage, ink: &[u8]) -> Vec<(Bounds, u8)> {
    blobs(gray.width(), gray.height(), ink)
        .into_iter()
        .filter(|b| GLYPH_HEIGHT.contains(&b.bounds.h) && b.bounds.w <= MAX_GLYPH_ASPECT * b.bounds.h && GLYPH_FILL.contains(&(b.area as f32 / (b.bounds.w * b.bounds.h) as f32)))
        .map(|b| (b.bounds, b.ink))
        .collect()
}

/// A connected blob of one ink.
struct Blob {
    bounds: Bounds,
    area: u32,
    ink: u8,
}

/// A blob's box and pixel count while it is being labelled.
#[derive(Clone, Copy)]
struct Extent {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    area: u32,
    ink: u8,
}

impl Extent {
    fn add(&mut self, other: &Extent) {
        (self.x0, self.y0, self.x1, self.y1) = (self.x0.min(other.x0), self.y0.min(other.y0), self.x1.max(other.x1), self.y1.max(other.y1));
        self.area += other.area;
    }
}

/// The connected blobs of each ink, in one pass keeping two rows of labels: a label's extent
/// grows as its pixels come, and labels found to touch are joined, their extents summed last.
fn blobs(w: u32, h: u32, ink: &[u8]) -> Vec<Blob> {
    let w = w as usize;
    let (mut above, mut row) = (vec![0u32; w], vec![0u32; w]);
    let mut joined = Joined(vec![0]);
    let mut extents = vec![Extent { x0: 0, y0: 0, x1: 0, y1: 0, area: 0, ink: 0 }];
    for y in 0..h as usize {
        for x in 0..w {
            let of = ink[y * w + x];
            if of == 0 {
                row[x] = 0;
                continue;
            }
            let left = if x > 0 && ink[y * w + x - 1] == of { row[x - 1] } else { 0 };
            let up = if y > 0 && ink[(y - 1) * w + x] == of { above[x] } else { 0 };
            let label = match (left, up) {
                (0, 0) => {
                    extents.push(Extent { x0: x as u32, y0: y as u32, x1: x as u32, y1: y as u32, area: 0, ink: of });
                    joined.new_label()
                }
                (0, l) | (l, 0) => l,
                (l, u) if l == u => l,
                (l, u) => joined.join(l, u),
            };
            let extent = &mut extents[label as usize];
            extent.add(&Extent { x0: x as u32, y0: y as u32, x1: x as u32, y1: y as u32, area: 1, ink: of });
            row[x] = label;
        }
        std::mem::swap(&mut above, &mut row);
    }
    for label in 1..extents.len() {
        let root = joined.root(label as u32) as usize;
        if root != label {
            let part = extents[label];
            extents[root].add(&part);
            extents[label].area = 0;
        }
    }
    extents
        .into_iter()
        .skip(1)
        .filter(|e| e.area > 0)
        .map(|e| Blob { bounds: Bounds { x: e.x0, y: e.y0, w: e.x1 - e.x0 + 1, h: e.y1 - e.y0 + 1 }, area: e.area, ink: e.ink })
        .collect()
}

/// Union-find over labels (index 0 is the background).
struct Joined(Vec<u32>);

impl Joined {
    fn new_label(&mut self) -> u32 {
        let label = self.0.len() as u32;
        self.0.push(label);
        label
    }

    fn root(&mut self, mut label: u32) -> u32 {
        while self.0[label as usize] != label {
            let parent = self.0[label as usize];
            self.0[label as usize] = self.0[parent as usize];
            label = parent;
        }
        label
    }

    fn join(&mut self, a: u32, b: u32) -> u32 {
        let (a, b) = (self.root(a), self.root(b));
        let (low, high) = (a.min(b), a.max(b));
        self.0[high as usize] = low;
        low
    }
}

/// Rows of at least `MIN_LINE` glyphs, each beside the next.
fn lines(mut glyphs: Vec<Bounds>) -> Vec<Vec<Bounds>> {
    glyphs.sort_by_key(|g| (g.x, g.y, g.w, g.h));
    let mut joined = Joined((0..glyphs.len() as u32).collect());
    for (i, a) in glyphs.iter().enumerate() {
        // Sorted by x, and a neighbour starts within 1.4 heights of a's right edge.
        let reach = a.right() as f32 + 1.4 * a.h as f32;
        for (j, b) in glyphs.iter().enumerate().skip(i + 1).take_while(|(_, b)| b.x as f32 <= reach) {
            if side_by_side(a, b) {
                joined.join(i as u32, j as u32);
            }
        }
    }
    let mut rows: std::collections::HashMap<u32, Vec<Bounds>> = std::collections::HashMap::new();
    for (i, g) in glyphs.iter().enumerate() {
        rows.entry(joined.root(i as u32)).or_default().push(*g);
    }
    rows.into_values().filter(|row| row.len() >= MIN_LINE).collect()
}

/// Whether `b`, starting at or right of `a`, is its neighbour in a line of print: about as
/// tall, centred at about the same height, a small gap between them (or a slight overlap).
fn side_by_side(a: &Bounds, b: &Bounds) -> bool {
    let (tall, short) = (a.h.max(b.h) as f32, a.h.min(b.h) as f32);
    let gap = b.x as f32 - a.right() as f32;
    let centres = (a.y as f32 + a.h as f32 / 2.0) - (b.y as f32 + b.h as f32 / 2.0);
    gap <= tall && gap >= -0.2 * a.w.min(b.w) as f32 && tall <= 1.4 * short && centres.abs() <= 0.25 * tall
}

/// A line of glyphs of varied widths, in two tones.
fn reads_as_print(gray: &GrayImage, line: &[Bounds]) -> bool {
    width_spread(line) >= MIN_WIDTH_SPREAD && two_tones(gray, &padded_bounds(line, gray)) >= MIN_TWO_TONES
}

fn width_spread(line: &[Bounds]) -> f32 {
    let n = line.len() as f32;
    let mean = line.iter().map(|g| g.w as f32).sum::<f32>() / n;
    let variance = line.iter().map(|g| (g.w as f32 - mean).powi(2)).sum::<f32>() / n;
    variance.sqrt() / mean
}

/// The line's box with a margin of 0.3 of its glyphs' median height, inside the image.
fn padded_bounds(line: &[Bounds], gray: &GrayImage) -> Bounds {
    let mut heights: Vec<u32> = line.iter().map(|g| g.h).collect();
    heights.sort_unstable();
    let margin = (0.3 * heights[heights.len() / 2] as f32) as u32;
    let x0 = line.iter().map(|g| g.x).min().unwrap_or(0).saturating_sub(margin);
    let y0 = line.iter().map(|g| g.y).min().unwrap_or(0).saturating_sub(margin);
    let x1 = (line.iter().map(|g| g.right()).max().unwrap_or(0) + margin).min(gray.width());
    let y1 = (line.iter().map(|g| g.y + g.h).max().unwrap_or(0) + margin).min(gray.height());
    Bounds { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
}

/// The share of the brightness variance in `area` explained by its best split in two (Otsu).
fn two_tones(gray: &GrayImage, area: &Bounds) -> f32 {
    let mut histogram = [0u32; 256];
    for y in area.y..area.y + area.h {
        for x in area.x..area.x + area.w {
            histogram[gray.as_raw()[(y * gray.width() + x) as usize] as usize] += 1;
        }
    }
    let n = f64::from(area.w * area.h);
    let mean = histogram.iter().enumerate().map(|(v, &c)| v as f64 * f64::from(c)).sum::<f64>() / n;
    let variance = histogram.iter().enumerate().map(|(v, &c)| (v as f64 - mean).powi(2) * f64::from(c)).sum::<f64>() / n;
    if variance < 1.0 {
        return 0.0;
    }
    let (mut below, mut below_sum, mut best) = (0.0, 0.0, 0.0f64);
    for (v, &c) in histogram.iter().enumerate() {
        below += f64::from(c) / n;
        below_sum += v as f64 * f64::from(c) / n;
        if below > 0.0 && below < 1.0 {
            best = best.max((mean * below - below_sum).powi(2) / (below * (1.0 - below)));
        }
    }
    (best / variance) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb, RgbImage};

    /// Paper with lines of glyph-like shapes of varied widths (a stem, a bar, a bowl), and word
    /// gaps, in `ink` on `paper`.
    fn page(ink: u8, paper: u8) -> GrayImage {
        let mut page = GrayImage::from_pixel(800, 600, Luma([paper]));
        let mut fill = |x0: u32, y0: u32, w: u32, h: u32| {
            for y in y0..y0 + h {
                for x in x0..x0 + w {
                    page.put_pixel(x, y, Luma([ink]));
                }
            }
        };
        for line in 0..12 {
            let y0 = 40 + line * 40;
            let mut x = 30;
            for glyph in 0..50u32 {
                let width = 5 + (glyph * 7 + line) % 8;
                fill(x, y0, 2, 16);
                fill(x, y0, width, 2);
                fill(x + width - 2, y0 + 7, 2, 9);
                x += width + if glyph % 6 == 5 { 9 } else { 3 };
                if x > 740 {
                    break;
                }
            }
        }
        page
    }

    #[test]
    fn lines_of_print_are_likely_text_either_way_round() {
        assert!(likely_text(&DynamicImage::ImageLuma8(page(20, 250))));
        assert!(likely_text(&DynamicImage::ImageLuma8(page(240, 30))));
    }

    #[test]
    fn a_big_photo_of_a_page_is_shrunk_and_still_read() {
        let big = image::imageops::resize(&page(20, 250), 2400, 1800, image::imageops::FilterType::Triangle);
        assert!(likely_text(&DynamicImage::ImageLuma8(big)));
    }

    #[test]
    fn smooth_pictures_and_big_shapes_are_not() {
        let gradient = RgbImage::from_fn(1200, 900, |x, y| Rgb([(x / 5) as u8, (y / 4) as u8, 128]));
        assert!(!likely_text(&DynamicImage::ImageRgb8(gradient)));
        let circle = RgbImage::from_fn(640, 480, |x, y| {
            let (dx, dy) = (x as i32 - 320, y as i32 - 240);
            if dx * dx + dy * dy < 150 * 150 { Rgb([20, 40, 220]) } else { Rgb([240, 240, 240]) }
        });
        assert!(!likely_text(&DynamicImage::ImageRgb8(circle)));
    }

    #[test]
    fn rows_of_one_width_are_dashes_not_words() {
        // Hollow dashes (a solid block is no glyph), in rows like print.
        let dashes = GrayImage::from_fn(800, 600, |x, y| {
            let (across, down) = (x % 14, y % 40);
            let dash = down < 12 && across < 8 && !((2..6).contains(&across) && (2..10).contains(&down));
            Luma([if dash { 20 } else { 250 }])
        });
        assert!(!likely_text(&DynamicImage::ImageLuma8(dashes)));
    }

    #[test]
    fn the_sample_photos_are_not_picked_at_any_size() {
        // A pagoda's rows of windows, a cat's fur, a coffee, a flower, the Hubble deep field, a
        // rocket, an astronaut: photos without words, at their own size and at 640x480.
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/photos");
        let mut photos: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
        photos.sort();
        assert_eq!(photos.len(), 7);
        for path in photos {
            let photo = image::open(&path).unwrap();
            let small = photo.resize_exact(640, 480, image::imageops::FilterType::Triangle);
            assert!(!likely_text(&photo) && !likely_text(&small), "{} is picked", path.display());
        }
    }

    #[test]
    fn tiny_images_are_read_whole_without_panicking() {
        for (w, h) in [(1, 1), (5, 300), (300, 5), (13, 13)] {
            assert!(!likely_text(&DynamicImage::ImageLuma8(GrayImage::new(w, h))));
        }
    }

    #[test]
    fn two_tones_explain_a_black_and_white_area_and_not_a_ramp() {
        let halves = GrayImage::from_fn(40, 20, |x, _| Luma([if x < 20 { 10 } else { 240 }]));
        assert!(two_tones(&halves, &Bounds { x: 0, y: 0, w: 40, h: 20 }) > 0.99);
        let ramp = GrayImage::from_fn(256, 4, |x, _| Luma([x as u8]));
        assert!(two_tones(&ramp, &Bounds { x: 0, y: 0, w: 256, h: 4 }) < 0.8);
    }
}
