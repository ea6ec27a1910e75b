//! The dates a query names ("beach 2023", "2019年的照片", "snow in january 2021"): taken out of
//! the text the encoder sees and made a filter, since CLIP knows nothing of when a photo was taken.

use crate::media::photo_meta::Period;

/// A query with the date it names taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dated {
    /// The rest of the query, for the encoder; empty when the query was only a date.
    pub text: String,
    /// The period named (the first, when several are).
    pub period: Option<Period>,
}

const MONTHS: [&str; 12] = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

/// Words that only join a date to the rest ("in 2023", "from june 2021") or say "photos".
const JOINERS: &[&str] = &["in", "from", "of", "during", "taken", "since", "at", "on", "year"];
const ONLY_PHOTOS: &[&str] = &["photo", "photos", "picture", "pictures", "image", "images", "照片", "图片", "相片", "的照片", "的图片", "的"];

/// Finds the date in `query`: `YYYY年M月`, `YYYY年`, `YYYY-MM`, a month's English name (or its
/// first three letters) then a year, or a year 1900 to 2099 standing alone.
pub fn dates_in(query: &str) -> Dated {
    let Some((start, end, period)) = find_date(query) else { return Dated { text: query.trim().to_string(), period: None } };
    let before = strip_trailing_joiner(query[..start].trim_end());
    let after = query[end..].trim_start().trim_start_matches('的').trim_start();
    let rest = [before, after].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
    let text = if ONLY_PHOTOS.contains(&rest.to_lowercase().as_str()) { String::new() } else { rest };
    Dated { text, period: Some(period) }
}

fn strip_trailing_joiner(text: &str) -> &str {
    match text.rsplit_once(char::is_whitespace) {
        Some((head, last)) if JOINERS.contains(&last.to_lowercase().as_str()) => head.trim_end(),
        None if JOINERS.contains(&text.to_lowercase().as_str()) => "",
        _ => text,
    }
}

/// The byte span of the first date in `text` and its period.
fn find_date(text: &str) -> Option<(usize, usize, Period)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let digit_at = |i: usize| chars.get(i).is_some_and(|(_, c)| c.is_ascii_digit());
    for i in 0..chars.len() {
        // A year: four digits, not inside a longer number or a word.
        let boundary_before = i == 0 || !chars[i - 1].1.is_alphanumeric() || super::words::is_cjk_char(chars[i - 1].1);
        if !(boundary_before && (i..i + 4).all(digit_at) && !digit_at(i + 4)) {
            continue;
        }
        let year: i32 = text[byte_at(i)..byte_at(i + 4)].parse().ok()?;
        let after = chars.get(i + 4).map(|(_, c)| *c);
        let mut end = i + 4;
        let mut month = None;
        if after == Some('年') {
            end += 1;
            let digits = (end..end + 2).take_while(|&j| digit_at(j)).count();
            if digits > 0 && chars.get(end + digits).map(|(_, c)| *c) == Some('月') {
                month = text[byte_at(end)..byte_at(end + digits)].parse::<u32>().ok();
                end += digits + 1;
            }
        } else if after == Some('-') && digit_at(i + 5) {
            let digits = (i + 5..i + 7).take_while(|&j| digit_at(j)).count();
            if digit_at(i + 5 + digits) || chars.get(i + 5 + digits).is_some_and(|(_, c)| *c == '-') {
                continue; // a longer date or a number: not ours
            }
            month = text[byte_at(i + 5)..byte_at(i + 5 + digits)].parse::<u32>().ok();
            end = i + 5 + digits;
        } else if after.is_some_and(|c| c.is_alphanumeric() && !super::words::is_cjk_char(c)) || !(1900..=2099).contains(&year) {
            continue;
        }
        let mut start = i;
        if month.is_none() {
            if let Some((name_start, m)) = month_name_before(text, byte_at(i)) {
                month = Some(m);
                start = chars.iter().position(|(b, _)| *b == name_start).unwrap_or(i);
            }
        }
        let typed = match month {
            Some(m) => format!("{year}-{m}"),
            None => year.to_string(),
        };
        if let Ok(period) = Period::parse(&typed) {
            return Some((byte_at(start), byte_at(end), period));
        }
    }
    None
}

/// A month's name (or its first three letters) right before byte `at`: its start and number.
fn month_name_before(text: &str, at: usize) -> Option<(usize, u32)> {
    let head = text[..at].trim_end();
    let word_start = head.rfind(|c: char| !c.is_alphabetic()).map_or(0, |i| i + head[i..].chars().next().map_or(1, char::len_utf8));
    let word = head[word_start..].to_lowercase();
    let number = MONTHS.iter().position(|m| word.len() >= 3 && m.starts_with(word.as_str()))?;
    Some((word_start, number as u32 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dated(query: &str) -> (String, Option<String>) {
        let d = dates_in(query);
        (d.text, d.period.map(|p| format!("{}..{}", p.start, p.end)))
    }

    fn period(typed: &str) -> Option<String> {
        Period::parse(typed).ok().map(|p| format!("{}..{}", p.start, p.end))
    }

    #[test]
    fn years_and_months_come_out_of_the_text() {
        assert_eq!(dated("beach 2023"), ("beach".into(), period("2023")));
        assert_eq!(dated("2019年的照片"), ("".into(), period("2019")));
        assert_eq!(dated("2021年6月的海边"), ("海边".into(), period("2021-6")));
        assert_eq!(dated("snow in January 2021"), ("snow".into(), period("2021-1")));
        assert_eq!(dated("party from dec 2020 at home"), ("party at home".into(), period("2020-12")));
        assert_eq!(dated("trip 2022-07"), ("trip".into(), period("2022-7")));
        assert_eq!(dated("photos from 2018"), ("".into(), period("2018")));
    }

    #[test]
    fn numbers_that_are_not_dates_stay_text() {
        for query in ["invoice 4711", "room 12345", "gate B2023", "2023-06-01 receipt", "a dog on a bench", "1850 map", "v2023x"] {
            assert_eq!(dated(query), (query.to_string(), None), "{query}");
        }
    }
}
