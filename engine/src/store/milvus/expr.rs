//! A search filter as a Milvus boolean expression over the collection's fields, so that Milvus
//! narrows the search next to the vectors. Milvus 2.3 matches strings by prefix only, so a
//! camera (a substring of make and model) and a folder whose name holds a `LIKE` wildcard are
//! evaluated in the catalog and passed as the ids they keep.

use std::fmt::Write as _;

use super::remote::NO_TIME;
use crate::{catalog::filter::{extension_names, Filter, Media, Orientation}};

/// The expression for `filter`, and the part of it Milvus cannot evaluate (for the catalog).
pub fn expression(filter: &Filter) -> (String, Option<Filter>) {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = Filter::default();
    if let Some(folder) = filter.folder.as_deref().map(|f| f.trim_matches('/')).filter(|f| !f.is_empty()) {
        match folder.contains(['%', '_']) {
            true => rest.folder = Some(folder.to_string()),
            false => parts.push(format!("(path == {} || path like {})", quoted(folder), quoted(&format!("{folder}/%")))),
        }
    }
    if let Some(after) = filter.after {
        parts.push(format!("taken >= {after}"));
    }
    if let Some(before) = filter.before {
        parts.push(format!("(taken > {NO_TIME} && taken < {before})"));
    }
    if !filter.extensions.is_empty() {
        let names: Vec<String> = extension_names(&filter.extensions).iter().map(|e| quoted(e)).collect();
        parts.push(format!("ext in [{}]", names.join(", ")));
    }
    match filter.media {
        Some(Media::Image) => parts.push("kind == 0".into()),
        Some(Media::Video) => parts.push("kind == 1".into()),
        None => {}
    }
    match filter.orientation {
        Some(Orientation::Landscape) => parts.push("orient == 0".into()),
        Some(Orientation::Portrait) => parts.push("orient == 1".into()),
        Some(Orientation::Square) => parts.push("orient == 2".into()),
        None => {}
    }
    if let Some(located) = filter.has_location {
        parts.push(format!("located == {located}"));
    }
    rest.camera = filter.camera.clone().filter(|c| !c.trim().is_empty());
    let rest = (!rest.is_empty()).then_some(rest);
    (parts.join(" && "), rest)
}

/// `expression` narrowed to `ids` as well.
pub fn with_ids(expression: &str, ids: &[i64]) -> String {
    let mut list = String::with_capacity(ids.len() * 8);
    for (i, id) in ids.iter().enumerate() {
        let _ = write!(list, "{}{id}", if i > 0 { "," } else { "" });
    }
    match expression.is_empty() {
        true => format!("id in [{list}]"),
        false => format!("{expression} && id in [{list}]"),
    }
}

/// A Milvus string literal.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_milvus_expressions() {
        let filter = Filter {
            folder: Some("/2023/Trip \"A\"/".into()),
            after: Some(10),
            before: Some(20),
            extensions: vec!["jpg".into()],
            media: Some(Media::Image),
            orientation: Some(Orientation::Portrait),
            has_location: Some(true),
            camera: None,
        };
        let (expr, rest) = expression(&filter);
        assert_eq!(
            expr,
            "(path == \"2023/Trip \\\"A\\\"\" || path like \"2023/Trip \\\"A\\\"/%\") && taken >= 10 && (taken > -4611686018427387904 && taken < 20) \
             && ext in [\"jpeg\", \"jpg\"] && kind == 0 && orient == 1 && located == true"
        );
        assert_eq!(rest, None);
        assert_eq!(expression(&Filter::default()), (String::new(), None));
    }

    #[test]
    fn what_milvus_cannot_match_is_left_to_the_catalog() {
        let (expr, rest) = expression(&Filter { folder: Some("my_photos".into()), camera: Some("Canon".into()), media: Some(Media::Video), ..Filter::default() });
        assert_eq!(expr, "kind == 1");
        assert_eq!(rest, Some(Filter { folder: Some("my_photos".into()), camera: Some("Canon".into()), ..Filter::default() }));
        assert_eq!(with_ids("kind == 1", &[3, 5]), "kind == 1 && id in [3,5]");
        assert_eq!(with_ids("", &[]), "id in []");
    }
}
