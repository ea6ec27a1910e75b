//! Query arithmetic: a search query is a signed, weighted sum of text and image terms.
//!
//! # Grammar
//!
//! ```text
//! query    := [op] term { op term }
//! op       := "+" | "-"          (only where a word starts: at the start or after whitespace)
//! term     := [weight ":"] ( "#" id | '"' text '"' | bare )
//! weight   := digits [ "." digits ]     (e.g. 2, 0.5, 1.25; must be > 0; spaces may follow ':')
//! id       := digits                    (an indexed image's id; must fit in i64)
//! bare     := any text up to the next op, trimmed
//! ```
//!
//! - A query without operators is *plain*: one text term of weight 1 whose text is the query
//!   trimmed, byte for byte, so plain queries search exactly as before.
//! - `+`/`-` inside a word is text: `t-shirt`, `black-and-white`, `c++`, `x-ray`.
//!   Both `+ dog` and `+dog` are operators.
//! - `-` negates the term's weight: `-2:cat` is weight −2 (the `-` is the operator, `2` the weight).
//! - Quoted text is taken literally, up to the next `"` (no escapes): `"t-shirt +logo"` is one term.
//! - After a quoted term or an image term only whitespace and then an operator (or the end) may
//!   follow: `"a"b` and `#12 night` are errors.
//! - `N:` at the start of a term is always a weight: `12:30 meeting` is weight 12 on
//!   `30 meeting`. Quote it to search the text: `"12:30 meeting"`. Likewise a term starting with
//!   `#` or `"` is an image or quoted term; quote the whole text to search it literally.
//! - Errors carry the 1-based *character* (not byte) column of the problem.
//! - An all-negative query parses; whether its combined vector is usable is for [`combine`].
//!
//! Examples: `beach +sunset -people`, `2:cat + dog`, `#12 + "at night"`, `0.5:#12 - 1.5:"red car"`.

use std::fmt;

/// Terms a query may have: more is not a search anyone types, and each term is an encoder call
/// (or a catalog lookup) that other requests would wait behind.
pub const MAX_TERMS: usize = 16;

/// Norms below this count as zero: a term that embeds to nothing, or terms that cancel out.
const NEAR_ZERO: f32 = 1e-6;

/// One term of a query: what to embed and its signed weight.
#[derive(Debug, Clone)]
pub struct Term {
    /// Signed weight: positive pulls results towards the term, negative pushes them away.
    pub weight: f32,
    /// What to embed.
    pub what: TermKind,
    /// Whether the text was written in quotes: an exact phrase for the words in images.
    pub quoted: bool,
}

/// Terms are equal when they embed the same: quoting is how the text was written (a query
/// written back quotes whatever needs it), not what it is.
impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        self.weight == other.weight && self.what == other.what
    }
}

/// What a term embeds.
#[derive(Debug, Clone, PartialEq)]
pub enum TermKind {
    /// Text, embedded with the text encoder.
    Text(String),
    /// An indexed image, by id; its stored embedding is used.
    Image(i64),
}

/// A parsed query: the terms whose weighted embeddings are summed.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The terms, in the order they were written; never empty.
    pub terms: Vec<Term>,
}

/// Why a query could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// 1-based character (not byte) column of the problem.
    pub position: usize,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

impl std::error::Error for QueryError {}

impl Query {
    /// Parses a query written in the grammar described in the [module docs](self).
    ///
    /// # Errors
    ///
    /// A [`QueryError`] with the character column of the first problem found.
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        Parser::new(input).parse().map(|terms| Query { terms })
    }

    /// The text of a plain query (one text term of weight 1), which is embedded as it is.
    pub fn as_plain(&self) -> Option<&str> {
        match self.terms.as_slice() {
            [
                Term {
                    weight,
                    what: TermKind::Text(text),
                    ..
                },
            ] if *weight == 1.0 => Some(text),
            _ => None,
        }
    }

    /// Whether any term names an image.
    pub fn has_images(&self) -> bool {
        self.terms
            .iter()
            .any(|term| matches!(term.what, TermKind::Image(_)))
    }
}

/// The query embedding: the weighted sum of the terms' L2-normalised embeddings, L2-normalised
/// again. `vectors[i]` is the embedding of `terms[i]` (the caller embeds). Errors (as a plain
/// String message) when the sum is (near) zero, e.g. `cat - cat`: "the query's terms cancel out".
pub fn combine(terms: &[Term], vectors: &[Vec<f32>]) -> Result<Vec<f32>, String> {
    if terms.len() != vectors.len() {
        return Err(format!(
            "{} terms but {} embeddings",
            terms.len(),
            vectors.len()
        ));
    }
    let dimension = match vectors.first() {
        Some(first) => first.len(),
        None => return Err("the query has no terms".to_string()),
    };
    let mut sum = vec![0.0f32; dimension];
    for (index, (term, vector)) in terms.iter().zip(vectors).enumerate() {
        if vector.len() != dimension {
            return Err(format!(
                "embedding {} has {} dimensions, expected {dimension}",
                index + 1,
                vector.len()
            ));
        }
        let norm = l2_norm(vector);
        if is_near_zero(norm) {
            return Err(format!("the embedding of term {} is zero", index + 1));
        }
        // Normalise first, so a term's weight alone decides its pull.
        let scale = term.weight / norm;
        for (total, value) in sum.iter_mut().zip(vector) {
            *total += scale * value;
        }
    }
    let norm = l2_norm(&sum);
    if is_near_zero(norm) {
        return Err("the query's terms cancel out".to_string());
    }
    Ok(sum.into_iter().map(|value| value / norm).collect())
}

fn l2_norm(vector: &[f32]) -> f32 {
    vector.iter().map(|value| value * value).sum::<f32>().sqrt()
}

/// Also true for NaN, so non-finite input is refused rather than propagated.
fn is_near_zero(norm: f32) -> bool {
    !(norm >= NEAR_ZERO && norm.is_finite())
}

/// A recursive-descent parser over the query's characters. Indices are character indices, so
/// error positions are character columns; text is sliced from the input so it stays
/// byte-identical.
struct Parser<'a> {
    input: &'a str,
    /// Each character with its byte offset.
    chars: Vec<(usize, char)>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser {
            input,
            chars: input.char_indices().collect(),
        }
    }

    fn parse(&self) -> Result<Vec<Term>, QueryError> {
        let mut at = self.skip_spaces(0);
        if self.at_end(at) {
            return Err(self.error(0, "the query is empty"));
        }
        let mut terms = Vec::new();
        while !self.at_end(at) {
            // Every term after the first ends right before an operator, so only the first
            // term may lack one (it then counts as `+`).
            let (sign, operator, after_operator) = match self.operator_at(at) {
                Some(op) => (
                    if op == '-' { -1.0 } else { 1.0 },
                    Some((at, op)),
                    self.skip_spaces(at + 1),
                ),
                None => (1.0, None, at),
            };
            if terms.len() == MAX_TERMS {
                return Err(self.error(at, format!("the query has more than {MAX_TERMS} terms")));
            }
            let (term, next) = self.term(after_operator, sign, operator)?;
            terms.push(term);
            at = next;
        }
        Ok(terms)
    }

    /// Parses `[weight ":"] (image | quoted | bare)` at `at`; returns the term and the index of
    /// the next operator (or the end).
    fn term(
        &self,
        at: usize,
        sign: f32,
        operator: Option<(usize, char)>,
    ) -> Result<(Term, usize), QueryError> {
        self.expect_term_start(at, operator, None)?;
        let (weight, at) = match self.weight(at)? {
            Some((weight, after)) => {
                let after = self.skip_spaces(after);
                self.expect_term_start(after, operator, Some(at))?;
                (weight, after)
            }
            None => (1.0, at),
        };
        let quoted = self.char_at(at) == Some('"');
        let (what, next) = match self.char_at(at) {
            Some('#') => {
                let (id, after) = self.image(at)?;
                (TermKind::Image(id), self.expect_operator_or_end(after)?)
            }
            Some('"') => {
                let (text, after) = self.quoted(at)?;
                (TermKind::Text(text), self.expect_operator_or_end(after)?)
            }
            _ => {
                let (text, after) = self.bare(at);
                (TermKind::Text(text), after)
            }
        };
        Ok((
            Term {
                weight: sign * weight,
                what,
                quoted,
            },
            next,
        ))
    }

    /// A term must follow an operator or a weight: not the end, and not another operator.
    fn expect_term_start(
        &self,
        at: usize,
        operator: Option<(usize, char)>,
        weight_at: Option<usize>,
    ) -> Result<(), QueryError> {
        let found = self.char_at(at);
        let missing = found.is_none() || matches!(found, Some('+' | '-'));
        if !missing {
            return Ok(());
        }
        let after = match (weight_at, operator) {
            (Some(_), _) => "the weight".to_string(),
            (None, Some((_, op))) => format!("'{op}'"),
            // The first term with no operator always starts on a non-space character.
            (None, None) => "the start".to_string(),
        };
        match found {
            Some(op) => Err(self.error(at, format!("expected a term after {after}, found '{op}'"))),
            None => {
                // Nothing left: point at what is left dangling.
                let dangling = weight_at.or(operator.map(|(index, _)| index)).unwrap_or(at);
                Err(self.error(dangling, format!("expected a term after {after}")))
            }
        }
    }

    /// `digits [. digits] :` at `at` is a weight; anything else is not (and is left as text).
    fn weight(&self, at: usize) -> Result<Option<(f32, usize)>, QueryError> {
        let integer_end = self.skip_digits(at);
        if integer_end == at {
            return Ok(None);
        }
        let mut end = integer_end;
        if self.char_at(end) == Some('.') {
            let fraction_end = self.skip_digits(end + 1);
            if fraction_end == end + 1 {
                return Ok(None);
            }
            end = fraction_end;
        }
        if self.char_at(end) != Some(':') {
            return Ok(None);
        }
        let written = self.slice(at, end);
        match written.parse::<f32>() {
            Ok(weight) if weight.is_finite() && weight > 0.0 => Ok(Some((weight, end + 1))),
            _ => Err(self.error(
                at,
                format!("a weight must be a positive number, found '{written}'"),
            )),
        }
    }

    /// `#digits` at `at` (which holds the `#`); the id runs up to whitespace or the end.
    fn image(&self, at: usize) -> Result<(i64, usize), QueryError> {
        let start = at + 1;
        let end = self.skip_until_space(start);
        let written = self.slice(start, end);
        if !written.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error(at, "expected an image id after '#'"));
        }
        if !written.chars().all(|c| c.is_ascii_digit()) {
            return Err(self.error(
                at,
                format!("an image id is a whole number, found '#{written}'"),
            ));
        }
        // All digits, so the only way to fail is overflow.
        match written.parse::<i64>() {
            Ok(id) => Ok((id, end)),
            Err(_) => Err(self.error(at, format!("image id #{written} is too large"))),
        }
    }

    /// `"..."` at `at` (which holds the opening quote), taken literally.
    fn quoted(&self, at: usize) -> Result<(String, usize), QueryError> {
        let start = at + 1;
        let close = (start..self.chars.len())
            .find(|&index| self.char_at(index) == Some('"'))
            .ok_or_else(|| self.error(at, "unmatched quote"))?;
        let text = self.slice(start, close);
        if text.trim().is_empty() {
            return Err(self.error(at, "empty quoted text"));
        }
        Ok((text.to_string(), close + 1))
    }

    /// Text from `at` up to the next operator (or the end), trimmed.
    fn bare(&self, at: usize) -> (String, usize) {
        let end = (at + 1..self.chars.len())
            .find(|&index| self.operator_at(index).is_some())
            .unwrap_or(self.chars.len());
        (self.slice(at, end).trim_end().to_string(), end)
    }

    /// After a closed term (quote or image) only spaces may come before the next operator.
    fn expect_operator_or_end(&self, at: usize) -> Result<usize, QueryError> {
        let at = self.skip_spaces(at);
        if self.at_end(at) || self.operator_at(at).is_some() {
            return Ok(at);
        }
        let word = self.slice(at, self.skip_until_space(at));
        Err(self.error(at, format!("expected an operator (+ or -) before '{word}'")))
    }

    /// The operator at `at`, if a `+` or `-` starts a word there.
    fn operator_at(&self, at: usize) -> Option<char> {
        let c = self.char_at(at).filter(|c| matches!(c, '+' | '-'))?;
        let starts_word = at == 0 || self.char_at(at - 1).is_some_and(char::is_whitespace);
        starts_word.then_some(c)
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.chars.get(at).map(|&(_, c)| c)
    }

    fn at_end(&self, at: usize) -> bool {
        at >= self.chars.len()
    }

    fn skip_while(&self, at: usize, keep: impl Fn(char) -> bool) -> usize {
        (at..self.chars.len())
            .find(|&index| !self.char_at(index).is_some_and(&keep))
            .unwrap_or(self.chars.len())
    }

    fn skip_spaces(&self, at: usize) -> usize {
        self.skip_while(at, char::is_whitespace)
    }

    fn skip_digits(&self, at: usize) -> usize {
        self.skip_while(at, |c| c.is_ascii_digit())
    }

    fn skip_until_space(&self, at: usize) -> usize {
        self.skip_while(at, |c| !c.is_whitespace())
    }

    /// The input between two character indices (`end` may be the length).
    fn slice(&self, start: usize, end: usize) -> &'a str {
        let byte = |index: usize| {
            self.chars
                .get(index)
                .map_or(self.input.len(), |&(offset, _)| offset)
        };
        &self.input[byte(start)..byte(end)]
    }

    fn error(&self, at: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            position: at + 1,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(weight: f32, text: &str) -> Term {
        Term {
            weight,
            what: TermKind::Text(text.to_string()),
            quoted: false,
        }
    }

    fn phrase(weight: f32, text: &str) -> Term {
        Term { quoted: true, ..self::text(weight, text) }
    }

    fn image(weight: f32, id: i64) -> Term {
        Term {
            weight,
            what: TermKind::Image(id),
            quoted: false,
        }
    }

    fn terms(input: &str) -> Vec<Term> {
        Query::parse(input)
            .unwrap_or_else(|error| panic!("{input:?} failed: {error}"))
            .terms
    }

    fn error(input: &str) -> (usize, String) {
        let error = Query::parse(input).expect_err(input);
        (error.position, error.message)
    }

    fn assert_plain(input: &str) {
        let query = Query::parse(input).unwrap_or_else(|error| panic!("{input:?}: {error}"));
        assert_eq!(query.as_plain(), Some(input.trim()), "{input:?}");
        assert_eq!(query.terms, vec![text(1.0, input.trim())]);
    }

    fn assert_close(actual: &[f32], expected: &[f32]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-5, "{actual:?} != {expected:?}");
        }
    }

    // Plain queries.

    #[test]
    fn a_plain_query_is_one_text_term_of_weight_one() {
        assert_plain("a dog sitting on a bench");
    }

    #[test]
    fn a_plain_query_is_trimmed_but_keeps_inner_spaces() {
        assert_plain("  a dog   on  a bench \t\n");
        assert_eq!(terms("  a dog   on ")[0], text(1.0, "a dog   on"));
    }

    #[test]
    fn a_plain_chinese_query_is_unchanged() {
        assert_plain("蓝色的圆");
        assert_plain("　海边的日落　"); // ideographic spaces count as whitespace
    }

    #[test]
    fn hyphens_and_pluses_inside_words_stay_text() {
        assert_plain("black-and-white t-shirt");
        assert_plain("x-ray of a hand");
        assert_plain("c++ book");
        assert_plain("c++");
        assert_plain("a-");
    }

    #[test]
    fn hashes_colons_and_quotes_inside_plain_text_stay_text() {
        assert_plain("sunset #nofilter");
        assert_plain("ratio 16:9 photo");
        assert_plain("a sign saying \"stop\"");
    }

    #[test]
    fn as_plain_is_none_for_anything_but_one_unit_text_term() {
        assert_eq!(Query::parse("cat + dog").unwrap().as_plain(), None);
        assert_eq!(Query::parse("2:cat").unwrap().as_plain(), None);
        assert_eq!(Query::parse("-cat").unwrap().as_plain(), None);
        assert_eq!(Query::parse("#3").unwrap().as_plain(), None);
    }

    // Operators.

    #[test]
    fn a_query_has_at_most_max_terms_terms() {
        let most = vec!["cat"; MAX_TERMS].join(" + ");
        assert_eq!(terms(&most).len(), MAX_TERMS);
        let (position, message) = error(&format!("{most} + dog"));
        assert_eq!(message, format!("the query has more than {MAX_TERMS} terms"));
        assert_eq!(position, most.chars().count() + 2);
    }

    #[test]
    fn plus_and_minus_add_and_subtract_terms() {
        assert_eq!(
            terms("beach +sunset -people"),
            vec![
                text(1.0, "beach"),
                text(1.0, "sunset"),
                text(-1.0, "people")
            ]
        );
    }

    #[test]
    fn operators_may_be_followed_by_spaces() {
        assert_eq!(
            terms("beach + sunset  -   people"),
            vec![
                text(1.0, "beach"),
                text(1.0, "sunset"),
                text(-1.0, "people")
            ]
        );
    }

    #[test]
    fn a_leading_operator_signs_the_first_term() {
        assert_eq!(terms("-people"), vec![text(-1.0, "people")]);
        assert_eq!(terms("  + dog"), vec![text(1.0, "dog")]);
    }

    #[test]
    fn an_all_negative_query_is_allowed() {
        assert_eq!(
            terms("-cat -dog"),
            vec![text(-1.0, "cat"), text(-1.0, "dog")]
        );
    }

    #[test]
    fn multi_word_terms_run_up_to_the_next_operator() {
        assert_eq!(
            terms("a red car - rain + blue sky"),
            vec![
                text(1.0, "a red car"),
                text(-1.0, "rain"),
                text(1.0, "blue sky")
            ]
        );
    }

    #[test]
    fn hyphenated_words_inside_terms_stay_text() {
        assert_eq!(
            terms("t-shirt -black-and-white"),
            vec![text(1.0, "t-shirt"), text(-1.0, "black-and-white")]
        );
    }

    #[test]
    fn chinese_terms_split_on_operators() {
        assert_eq!(
            terms("蓝色的圆 - 红色"),
            vec![text(1.0, "蓝色的圆"), text(-1.0, "红色")]
        );
    }

    // Weights.

    #[test]
    fn an_integer_weight_scales_a_term() {
        assert_eq!(
            terms("2:cat + dog"),
            vec![text(2.0, "cat"), text(1.0, "dog")]
        );
    }

    #[test]
    fn a_decimal_weight_scales_a_term() {
        assert_eq!(
            terms("0.5:cat + 1.25:dog"),
            vec![text(0.5, "cat"), text(1.25, "dog")]
        );
    }

    #[test]
    fn a_space_may_follow_the_weight_colon() {
        assert_eq!(terms("2: cat"), vec![text(2.0, "cat")]);
    }

    #[test]
    fn minus_negates_a_weighted_term() {
        assert_eq!(
            terms("cat -2:dog"),
            vec![text(1.0, "cat"), text(-2.0, "dog")]
        );
        assert_eq!(terms("-2:cat"), vec![text(-2.0, "cat")]);
    }

    #[test]
    fn a_number_and_colon_at_a_term_start_is_always_a_weight() {
        assert_eq!(terms("12:30 meeting"), vec![text(12.0, "30 meeting")]);
    }

    #[test]
    fn quoting_keeps_a_leading_number_and_colon_as_text() {
        assert_eq!(terms("\"12:30 meeting\""), vec![phrase(1.0, "12:30 meeting")]);
    }

    #[test]
    fn a_number_not_followed_by_a_colon_is_text() {
        assert_eq!(terms("2 cats"), vec![text(1.0, "2 cats")]);
        assert_eq!(terms("1.5.2:x"), vec![text(1.0, "1.5.2:x")]);
        assert_eq!(terms("2.:cat"), vec![text(1.0, "2.:cat")]);
        assert_eq!(terms("2 :cat"), vec![text(1.0, "2 :cat")]);
    }

    // Image terms.

    #[test]
    fn a_hash_and_digits_is_an_image_term() {
        assert_eq!(terms("#12"), vec![image(1.0, 12)]);
    }

    #[test]
    fn images_and_text_mix() {
        assert_eq!(
            terms("#12 + \"at night\""),
            vec![image(1.0, 12), phrase(1.0, "at night")]
        );
        assert_eq!(
            terms("beach - #7 + 3:#8"),
            vec![text(1.0, "beach"), image(-1.0, 7), image(3.0, 8)]
        );
    }

    #[test]
    fn weighted_image_and_quoted_terms_mix() {
        assert_eq!(
            terms("0.5:#12 - 1.5:\"red car\""),
            vec![image(0.5, 12), phrase(-1.5, "red car")]
        );
    }

    #[test]
    fn the_largest_i64_is_a_valid_image_id() {
        assert_eq!(terms("#9223372036854775807"), vec![image(1.0, i64::MAX)]);
    }

    #[test]
    fn has_images_tells_whether_any_term_is_an_image() {
        assert!(Query::parse("cat - #4").unwrap().has_images());
        assert!(!Query::parse("cat - dog").unwrap().has_images());
    }

    // Quoted text.

    #[test]
    fn quoted_text_keeps_operators_literally() {
        assert_eq!(terms("\"t-shirt +logo\""), vec![phrase(1.0, "t-shirt +logo")]);
        assert_eq!(
            terms("cat - \"a - b\" + #1"),
            vec![text(1.0, "cat"), phrase(-1.0, "a - b"), image(1.0, 1)]
        );
    }

    #[test]
    fn quoted_text_is_taken_literally_including_spaces() {
        assert_eq!(terms("\" at night\""), vec![phrase(1.0, " at night")]);
    }

    #[test]
    fn quoted_text_keeps_hashes_and_colons() {
        assert_eq!(
            terms("\"#12\" + \"2:cat\""),
            vec![phrase(1.0, "#12"), phrase(1.0, "2:cat")]
        );
    }

    // Errors.

    #[test]
    fn an_empty_query_is_an_error() {
        assert_eq!(error(""), (1, "the query is empty".to_string()));
    }

    #[test]
    fn a_whitespace_only_query_is_an_error() {
        assert_eq!(error("  \t "), (1, "the query is empty".to_string()));
    }

    #[test]
    fn an_operator_with_nothing_after_it_is_an_error() {
        assert_eq!(
            error("beach +"),
            (7, "expected a term after '+'".to_string())
        );
        assert_eq!(
            error("beach -  "),
            (7, "expected a term after '-'".to_string())
        );
        assert_eq!(error("-"), (1, "expected a term after '-'".to_string()));
    }

    #[test]
    fn an_empty_term_between_operators_is_an_error() {
        assert_eq!(
            error("cat + + dog"),
            (7, "expected a term after '+', found '+'".to_string())
        );
        assert_eq!(
            error("cat +-dog"),
            (6, "expected a term after '+', found '-'".to_string())
        );
    }

    #[test]
    fn an_unmatched_quote_points_at_the_opening_quote() {
        assert_eq!(
            error("cat + \"at night"),
            (7, "unmatched quote".to_string())
        );
    }

    #[test]
    fn empty_quoted_text_is_an_error() {
        assert_eq!(error("cat + \"\""), (7, "empty quoted text".to_string()));
        assert_eq!(error("\"  \""), (1, "empty quoted text".to_string()));
    }

    #[test]
    fn a_hash_without_digits_is_an_error() {
        assert_eq!(
            error("cat + #"),
            (7, "expected an image id after '#'".to_string())
        );
        assert_eq!(
            error("cat + # 12"),
            (7, "expected an image id after '#'".to_string())
        );
    }

    #[test]
    fn a_non_numeric_image_id_is_an_error() {
        assert_eq!(
            error("#abc"),
            (1, "expected an image id after '#'".to_string())
        );
        assert_eq!(
            error("x + #12abc"),
            (
                5,
                "an image id is a whole number, found '#12abc'".to_string()
            )
        );
    }

    #[test]
    fn an_image_id_too_large_for_i64_is_an_error() {
        assert_eq!(
            error("#9223372036854775808"),
            (1, "image id #9223372036854775808 is too large".to_string())
        );
    }

    #[test]
    fn a_zero_weight_is_an_error() {
        assert_eq!(
            error("dog + 0:cat"),
            (
                7,
                "a weight must be a positive number, found '0'".to_string()
            )
        );
        assert_eq!(
            error("0.0:cat"),
            (
                1,
                "a weight must be a positive number, found '0.0'".to_string()
            )
        );
    }

    #[test]
    fn a_weight_too_large_for_f32_is_an_error() {
        let huge = format!("{}:cat", "9".repeat(50));
        let (position, message) = error(&huge);
        assert_eq!(position, 1);
        assert!(
            message.starts_with("a weight must be a positive number"),
            "{message}"
        );
    }

    #[test]
    fn a_weight_with_no_term_is_an_error() {
        assert_eq!(
            error("cat + 2:"),
            (7, "expected a term after the weight".to_string())
        );
        assert_eq!(
            error("2: -cat"),
            (4, "expected a term after the weight, found '-'".to_string())
        );
    }

    #[test]
    fn text_after_a_closing_quote_needs_an_operator() {
        assert_eq!(
            error("\"a\"b"),
            (4, "expected an operator (+ or -) before 'b'".to_string())
        );
    }

    #[test]
    fn text_after_an_image_id_needs_an_operator() {
        assert_eq!(
            error("#12 night"),
            (
                5,
                "expected an operator (+ or -) before 'night'".to_string()
            )
        );
    }

    #[test]
    fn error_positions_count_characters_not_bytes() {
        assert_eq!(
            error("蓝色的圆 + #x"),
            (8, "expected an image id after '#'".to_string())
        );
        assert_eq!(
            error("蓝色的圆 -"),
            (6, "expected a term after '-'".to_string())
        );
        assert_eq!(error("红 + \"圆"), (5, "unmatched quote".to_string()));
        assert_eq!(
            error("\"圆\"天"),
            (4, "expected an operator (+ or -) before '天'".to_string())
        );
    }

    #[test]
    fn errors_display_their_position_and_message() {
        let error = Query::parse("cat + #x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "at character 7: expected an image id after '#'"
        );
    }

    // Combining embeddings.

    #[test]
    fn combine_of_a_plain_term_is_its_normalised_vector() {
        let combined = combine(&[text(1.0, "cat")], &[vec![3.0, 4.0]]).unwrap();
        assert_close(&combined, &[0.6, 0.8]);
    }

    #[test]
    fn combine_normalises_each_vector_before_weighting() {
        // Both inputs normalise to unit axes, whatever their length.
        let combined = combine(
            &[text(1.0, "a"), text(1.0, "b")],
            &[vec![10.0, 0.0], vec![0.0, 0.1]],
        )
        .unwrap();
        let half = 1.0 / 2f32.sqrt();
        assert_close(&combined, &[half, half]);
    }

    #[test]
    fn combine_weights_and_signs_the_sum() {
        // 2·x̂ − 1·ŷ = (2, −1), normalised by √5.
        let combined = combine(
            &[text(2.0, "a"), image(-1.0, 3)],
            &[vec![5.0, 0.0, 0.0], vec![0.0, 2.0, 0.0]],
        )
        .unwrap();
        let root5 = 5f32.sqrt();
        assert_close(&combined, &[2.0 / root5, -1.0 / root5, 0.0]);
    }

    #[test]
    fn combine_result_has_unit_length() {
        let combined = combine(
            &[text(0.5, "a"), text(1.5, "b"), text(-0.3, "c")],
            &[
                vec![1.0, 2.0, 3.0],
                vec![-4.0, 0.5, 2.0],
                vec![0.1, 0.1, 9.0],
            ],
        )
        .unwrap();
        assert!((l2_norm(&combined) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn combine_of_cat_minus_cat_cancels_out() {
        let query = Query::parse("cat - cat").unwrap();
        let cat = vec![0.3, -0.2, 0.9];
        assert_eq!(
            combine(&query.terms, &[cat.clone(), cat]),
            Err("the query's terms cancel out".to_string())
        );
    }

    #[test]
    fn combine_rejects_vectors_of_different_lengths() {
        let result = combine(
            &[text(1.0, "a"), text(1.0, "b")],
            &[vec![1.0, 0.0], vec![1.0]],
        );
        assert!(result.is_err());
    }

    #[test]
    fn combine_rejects_a_term_count_that_differs_from_the_vector_count() {
        assert!(combine(&[text(1.0, "a")], &[]).is_err());
        assert!(combine(&[], &[]).is_err());
    }

    #[test]
    fn combine_rejects_a_zero_embedding() {
        assert!(combine(&[text(1.0, "a")], &[vec![0.0, 0.0]]).is_err());
    }
}
