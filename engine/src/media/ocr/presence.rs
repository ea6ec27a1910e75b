//! A fast guess, made on the decode threads while a photo is in memory, at whether it shows
//! printed words: Tesseract takes about a second a page, so it reads only the photos this picks.
//!
//! Printed words are rows of small, sharp, high-contrast strokes: in a cell of a text line both
//! horizontal and vertical steps of brightness are dense, and such cells sit side by side. A
//! plain photo has few such cells, and rarely in a row; foliage or fabric may pass, which costs
//! only a reading that finds nothing.

use image::{DynamicImage, GrayImage};

/// Long side of the working copy: small print stays a few pixels high, the test stays ~1 ms.
const WORK_SIDE: u32 = 768;
/// Side of a cell, in working pixels: about one line of small print.
const CELL: u32 = 12;
/// A brightness step across two pixels this big is a stroke's edge (blur spreads an edge over two).
const EDGE: i16 = 40;
/// Fractions of a cell's pixels on horizontal and vertical edges for the cell to look like print.
const MIN_ACROSS: f32 = 0.10;
const MIN_DOWN: f32 = 0.05;
/// Denser than this is noise or a fine texture, not strokes with paper between them.
const MAX_ACROSS: f32 = 0.55;
/// Cells that look like print beside another such cell, for the photo to be read.
const MIN_CELLS_IN_ROWS: usize = 6;

/// Whether `image` probably shows printed words.
pub fn likely_text(image: &DynamicImage) -> bool {
    cells_in_rows(&working_copy(image)) >= MIN_CELLS_IN_ROWS
}

fn working_copy(image: &DynamicImage) -> GrayImage {
    let (w, h) = (image.width(), image.height());
    let long = w.max(h);
    if long <= WORK_SIDE {
        return image.to_luma8();
    }
    let scale = WORK_SIDE as f32 / long as f32;
    let size = |side: u32| ((side as f32 * scale).round() as u32).max(1);
    image.thumbnail_exact(size(w), size(h)).to_luma8()
}

/// How many print-like cells have a print-like neighbour on their left or right.
fn cells_in_rows(gray: &GrayImage) -> usize {
    let (columns, rows) = (gray.width() / CELL, gray.height() / CELL);
    let print: Vec<bool> = (0..rows).flat_map(|row| (0..columns).map(move |column| (column, row))).map(|(c, r)| looks_like_print(gray, c * CELL, r * CELL)).collect();
    let at = |c: u32, r: u32| print[(r * columns + c) as usize];
    (0..rows)
        .flat_map(|r| (0..columns).map(move |c| (c, r)))
        .filter(|&(c, r)| at(c, r) && ((c > 0 && at(c - 1, r)) || (c + 1 < columns && at(c + 1, r))))
        .count()
}

fn looks_like_print(gray: &GrayImage, x0: u32, y0: u32) -> bool {
    let value = |x: u32, y: u32| gray.get_pixel(x, y).0[0] as i16;
    let (mut across, mut down) = (0u32, 0u32);
    for y in y0..y0 + CELL {
        for x in x0..x0 + CELL {
            if x + 2 < gray.width() && (value(x + 2, y) - value(x, y)).abs() > EDGE {
                across += 1;
            }
            if y + 2 < gray.height() && (value(x, y + 2) - value(x, y)).abs() > EDGE {
                down += 1;
            }
        }
    }
    let area = (CELL * CELL) as f32;
    let (across, down) = (across as f32 / area, down as f32 / area);
    (MIN_ACROSS..=MAX_ACROSS).contains(&across) && down >= MIN_DOWN
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb, RgbImage};

    /// Rows of little dark glyph-like blocks (strokes with gaps) on white paper.
    fn page() -> DynamicImage {
        let mut page = GrayImage::from_pixel(800, 600, Luma([250]));
        for line in 0..12 {
            let y0 = 40 + line * 40;
            for glyph in 0..60 {
                let x0 = 30 + glyph * 12;
                for (dx, dy, w, h) in [(0, 0, 2, 16), (4, 0, 5, 2), (4, 7, 5, 2), (7, 0, 2, 16)] {
                    for y in y0 + dy..y0 + dy + h {
                        for x in x0 + dx..x0 + dx + w {
                            page.put_pixel(x, y, Luma([20]));
                        }
                    }
                }
            }
        }
        DynamicImage::ImageLuma8(page)
    }

    #[test]
    fn lines_of_print_are_likely_text() {
        assert!(likely_text(&page()));
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
    fn tiny_images_are_read_whole_without_panicking() {
        for (w, h) in [(1, 1), (5, 300), (300, 5), (13, 13)] {
            assert!(!likely_text(&DynamicImage::ImageLuma8(GrayImage::new(w, h))));
        }
    }
}
