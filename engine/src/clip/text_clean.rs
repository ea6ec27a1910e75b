//! open_clip's text cleaning before tokenizing: `ftfy.fix_text`, `html.unescape` twice,
//! whitespace collapsed, lower case. Without it curly quotes, `&amp;`, ligatures and full-width
//! letters give other token ids than the model was trained on.
//!
//! The ftfy steps that matter for typed queries are done here; mojibake repair (text decoded with
//! the wrong code page) is not, since a query typed into clipfind is never mis-decoded.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// How a model family's reference tokenizer cleans text (open_clip's `clean` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clean {
    /// ftfy, HTML entities, whitespace collapsed, lower case: open_clip's CLIP tokenizer.
    #[default]
    Lower,
    /// The same, case kept: open_clip's Hugging Face tokenizers (XLM-RoBERTa, ...).
    Whitespace,
    /// ftfy and HTML entities, then SigLIP's canonical form: `_` as a space, ASCII punctuation
    /// removed, lower case, whitespace collapsed.
    Canonicalize,
    /// The text goes to the tokenizer as typed (the tokenizer's own normaliser still runs).
    None,
}

impl Clean {
    /// `text` cleaned this way.
    pub fn apply(self, text: &str) -> String {
        match self {
            Clean::Lower => clean(text),
            Clean::Whitespace => collapse_whitespace(&basic_clean(text)),
            Clean::Canonicalize => canonicalize(&basic_clean(text)),
            Clean::None => text.to_string(),
        }
    }
}

/// Cleans `text` exactly as open_clip does before byte-pair encoding.
pub fn clean(text: &str) -> String {
    collapse_whitespace(&basic_clean(text)).to_lowercase()
}

/// open_clip's `basic_clean`: ftfy, then HTML entities unescaped twice.
fn basic_clean(text: &str) -> String {
    html_unescape(&html_unescape(&fix_text(text)))
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// big_vision's `canonicalize_text` as open_clip has it (`string.punctuation` is ASCII only).
fn canonicalize(text: &str) -> String {
    let kept: String = text.replace('_', " ").chars().filter(|c| !c.is_ascii_punctuation()).collect();
    collapse_whitespace(&kept.to_lowercase())
}

/// The parts of `ftfy.fix_text` (ftfy 6, default settings) that apply to typed text, in its order.
fn fix_text(text: &str) -> String {
    // ftfy unescapes HTML only when the text does not look like HTML itself.
    let text = if text.contains('<') { text.to_string() } else { html_unescape(text) };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if let Some(ligature) = latin_ligature(c) {
            out.push_str(ligature);
        } else if let Some(narrow) = narrow_width(c) {
            out.push_str(&narrow);
        } else if let Some(straight) = uncurled_quote(c) {
            out.push(straight);
        } else if !is_removed_control(c) {
            out.push(c);
        }
    }
    out.nfc().collect()
}

fn html_unescape(text: &str) -> String {
    if text.contains('&') {
        html_escape::decode_html_entities(text).into_owned()
    } else {
        text.to_string()
    }
}

/// ftfy's `fix_latin_ligatures`.
fn latin_ligature(c: char) -> Option<&'static str> {
    Some(match c {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "ʼn",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => return None,
    })
}

/// ftfy's `fix_character_width`: full-width forms to ASCII, half-width katakana to full width.
fn narrow_width(c: char) -> Option<String> {
    match c {
        '\u{3000}' => Some(" ".into()),
        '\u{FF01}'..='\u{FFEF}' => {
            let normal: String = c.to_string().nfkc().collect();
            (normal != c.to_string()).then_some(normal)
        }
        _ => None,
    }
}

/// ftfy's `uncurl_quotes`.
fn uncurled_quote(c: char) -> Option<char> {
    match c {
        '\u{02BC}' | '\u{2018}'..='\u{201B}' => Some('\''),
        '\u{201C}'..='\u{201F}' => Some('"'),
        _ => None,
    }
}

/// ftfy's `remove_control_chars`: C0 controls other than whitespace, DEL, deprecated format
/// characters, the byte-order mark and interlinear annotation marks.
fn is_removed_control(c: char) -> bool {
    matches!(c,
        '\u{00}'..='\u{08}' | '\u{0B}' | '\u{0E}'..='\u{1F}' | '\u{7F}'
        | '\u{206A}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFC}')
}

#[cfg(test)]
mod tests {
    use super::{clean, Clean};

    #[test]
    fn canonical_form_drops_ascii_punctuation_and_keeps_other_scripts() {
        // ftfy makes the full-width comma ',' first, which then goes like any ASCII comma.
        let text = "Hello, World! It's snake_case — 你好，世界";
        assert_eq!(Clean::Canonicalize.apply(text), "hello world its snake case — 你好世界");
        assert_eq!(Clean::Whitespace.apply("  Café\tMiXeD "), "Café MiXeD");
        assert_eq!(Clean::None.apply(" As  typed "), " As  typed ");
    }

    #[test]
    fn curly_quotes_become_straight() {
        assert_eq!(clean("\u{201C}Hi\u{201D} it\u{2019}s"), "\"hi\" it's");
    }

    #[test]
    fn html_entities_are_unescaped_twice() {
        assert_eq!(clean("rock &amp; roll &amp;amp; more"), "rock & roll & more");
        assert_eq!(clean("&lt;b&gt;"), "<b>");
    }

    #[test]
    fn ligatures_and_full_width_letters_are_plain() {
        assert_eq!(clean("\u{FB01}sh \u{FB02}ow"), "fish flow");
        assert_eq!(clean("\u{FF26}\u{FF35}\u{FF2C}\u{FF2C}\u{3000}\u{FF37}"), "full w");
    }

    #[test]
    fn whitespace_is_collapsed_and_controls_dropped() {
        assert_eq!(clean("  a\t\tb\n\nc \u{FEFF}d\u{07} "), "a b c d");
    }

    #[test]
    fn decomposed_accents_are_composed() {
        assert_eq!(clean("nai\u{0308}ve"), "na\u{EF}ve");
    }
}
