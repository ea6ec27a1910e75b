//! The words printed in photos (screenshots, receipts, signs, slides), read by Tesseract 5 with
//! its pretrained models, English and Simplified Chinese by default.
//!
//! Indexing runs this in two steps: [`likely_text`] on the decode threads while each photo is in
//! memory (about a millisecond), and later, after the embeddings are committed so search works
//! at once, a [`Reader`] on the photos it picked.

mod presence;
mod tesseract;

use std::{path::PathBuf, time::Duration};

use image::{
    imageops::{self, FilterType},
    DynamicImage, GrayImage,
};

pub use presence::likely_text;

/// Where Debian's `tesseract-ocr-*` packages put the models.
pub const DEBIAN_TESSDATA: &str = "/usr/share/tesseract-ocr/5/tessdata";

/// Characters of recognised text kept per image: a dense document page has a few thousand.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// How words are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrOptions {
    /// The folder of Tesseract's `.traineddata` files.
    pub data: PathBuf,
    /// Tesseract's languages, `+`-separated (`eng+chi_sim`).
    pub languages: String,
    /// Longest Tesseract may spend on one page; it keeps what it read by then.
    pub deadline: Duration,
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions { data: PathBuf::from(DEBIAN_TESSDATA), languages: "eng+chi_sim".into(), deadline: Duration::from_secs(20) }
    }
}

impl OcrOptions {
    /// What the catalog records of the reader, so a reading with other languages can be told apart.
    pub fn engine(&self) -> String {
        format!("tesseract-5 {}", self.languages)
    }

    /// Checks the languages' names and that their models are there, with a sentence for people.
    pub fn check(&self) -> Result<(), String> {
        let languages: Vec<&str> = self.languages.split('+').collect();
        for language in &languages {
            if language.is_empty() || !language.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("'{}' is not a list of Tesseract languages (like eng+chi_sim)", self.languages));
            }
            let model = self.data.join(format!("{language}.traineddata"));
            if !model.is_file() {
                return Err(format!("there is no Tesseract model for '{language}' at {} (Debian: apt install tesseract-ocr-{})", model.display(), language.replace('_', "-")));
            }
        }
        Ok(())
    }
}

/// The Tesseract library's version (`5.3.0`).
pub fn version() -> String {
    tesseract::version()
}

/// Pages are read at most this big (long side): more pixels only make Tesseract slower.
const MAX_SIDE: u32 = 2600;
/// Smaller pages are enlarged to this (long side): Tesseract reads glyphs best 20 to 40 px high.
const MIN_SIDE: u32 = 1600;
/// A photo to be read is decoded at its decoder's smallest scale that keeps this on its short
/// side (a 12 MP JPEG at half size): the page is no bigger than [`MAX_SIDE`] anyway.
pub const DECODE_SHORT_SIDE: u32 = 1200;

/// Recognised text of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    /// What was read, a line per text line; empty when nothing was.
    pub text: String,
    /// Whether the deadline cut the reading short.
    pub timed_out: bool,
}

/// A Tesseract engine with its models loaded, for one thread.
pub struct Reader {
    tesseract: tesseract::Tesseract,
    deadline: Duration,
}

impl Reader {
    /// Loads Tesseract's models for `options.languages` (a few hundred milliseconds).
    pub fn open(options: &OcrOptions) -> Result<Reader, String> {
        options.check()?;
        Ok(Reader { tesseract: tesseract::Tesseract::open(&options.data, &options.languages)?, deadline: options.deadline })
    }

    /// Reads the words in `image`.
    pub fn read(&mut self, image: &DynamicImage) -> Words {
        let page = self.tesseract.read(&page_of(image), self.deadline);
        Words { text: tidy(&page.text), timed_out: page.timed_out }
    }
}

/// The grey page Tesseract reads: big enough for small print, small enough to be quick. Made
/// grey first, and shrunk by averaging: a 64 MP photo never gets a float copy of its own size.
fn page_of(image: &DynamicImage) -> GrayImage {
    let long = image.width().max(image.height()).max(1);
    let target = long.clamp(MIN_SIDE.min(long * 2), MAX_SIDE);
    let gray = image.to_luma8();
    if target == long {
        return gray;
    }
    let scale = target as f64 / long as f64;
    let size = |side: u32| ((side as f64 * scale).round() as u32).max(1);
    match target < long {
        true => imageops::thumbnail(&gray, size(image.width()), size(image.height())),
        false => imageops::resize(&gray, size(image.width()), size(image.height()), FilterType::CatmullRom),
    }
}

/// Tesseract's text made searchable: Chinese characters joined again (it reads each as a word),
/// runs of spaces one space, and at most [`MAX_TEXT_CHARS`].
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = out.chars().last();
            let after = chars[i + 1..].iter().find(|c| **c != ' ').copied();
            let joins_cjk = before.is_some_and(is_cjk) && after.is_some_and(is_cjk);
            if joins_cjk || before.is_none_or(|b| b == ' ' || b == '\n') {
                continue;
            }
        }
        out.push(c);
        if out.len() >= MAX_TEXT_CHARS * 4 {
            break;
        }
    }
    let kept: String = out.trim().chars().take(MAX_TEXT_CHARS).collect();
    kept
}

/// Han characters and CJK punctuation, written without spaces between them.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_joins_chinese_and_keeps_english_words_apart() {
        assert_eq!(tidy("北 京 南 站  Beijing  South\n出 口 EXIT"), "北京南站 Beijing South\n出口 EXIT");
        assert_eq!(tidy("  "), "");
    }

    #[test]
    fn tidy_bounds_the_text() {
        assert_eq!(tidy(&"字".repeat(MAX_TEXT_CHARS * 2)).chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn options_refuse_odd_languages_and_missing_models() {
        let odd = OcrOptions { languages: "eng/../../x".into(), ..OcrOptions::default() };
        assert!(odd.check().unwrap_err().contains("not a list"), "{:?}", odd.check());
        let missing = OcrOptions { data: PathBuf::from("/nonexistent"), ..OcrOptions::default() };
        assert!(missing.check().unwrap_err().contains("no Tesseract model for 'eng'"));
    }
}
