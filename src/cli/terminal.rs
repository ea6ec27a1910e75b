//! Text from a photo folder (file names, EXIF fields, reasons quoting them) made safe to print:
//! a name like `a\x1b]0;pwned\x07.jpg` must not retitle, recolour or rewrite the user's terminal.

use std::borrow::Cow;

/// `text` with control characters (C0, DEL, C1) and the bidirectional overrides that reorder
/// what is shown written as `\u{..}` escapes; everything else as it is.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if is_unsafe(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect())
}

fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_overrides_are_escaped() {
        assert!(matches!(shown("2024/猫 photo.jpg"), Cow::Borrowed(_)));
        assert_eq!(shown("a\u{1b}]0;pwned\u{7}.jpg"), "a\\u{1b}]0;pwned\\u{7}.jpg");
        assert_eq!(shown("x\r\nfake line"), "x\\u{d}\\u{a}fake line");
        assert_eq!(shown("gpj.\u{202E}exe"), "gpj.\\u{202e}exe");
        assert_eq!(shown("\u{9b}31m"), "\\u{9b}31m");
    }
}
