//! The searcher's fused answers: the pictures' results with the images whose words or names
//! match, in one list (see [`super::fusion`]).

use std::collections::HashMap;

use super::hits::{sort_rows, HitWords, HIT_WORDS_CHARS};
use super::searcher::{Hit, Matching, Moment, SearchParams, Searcher};
use super::{
    fusion::{self, Ranking},
    words::{Snippet, TextMatch, TextQuery, CANDIDATES},
};
use crate::{catalog::filter::Filter, catalog::ImageRow, Result};

impl Searcher {
    /// The words read in image `id` (all of them), if any were.
    pub fn words(&self, id: i64) -> Result<Option<String>> {
        self.catalog().words_of(id)
    }

    /// The pictures' results fused with the images whose words or names match (see [`fusion`]).
    pub(super) fn fuse(&self, v: &[f32], pictures: Vec<(ImageRow, f32, Vec<Moment>)>, text: &TextQuery, params: SearchParams, named: &[i64], filter: &Filter) -> Result<Vec<Hit>> {
        let allowed = if filter.is_empty() { None } else { Some(self.allowed(filter)?) };
        let keep = |m: &TextMatch| !named.contains(&m.id) && allowed.as_ref().is_none_or(|ids| ids.binary_search(&m.id).is_ok());
        let (words, names) = {
            let catalog = self.catalog();
            let words: Vec<TextMatch> = text.in_words(&catalog, CANDIDATES)?.into_iter().filter(keep).collect();
            let names: Vec<TextMatch> = match params.matching {
                Matching::Everything => text.in_names(&catalog, CANDIDATES)?.into_iter().filter(keep).collect(),
                _ => Vec::new(),
            };
            (words, names)
        };
        if words.is_empty() && names.is_empty() {
            return Ok(self.hits(pictures, params, "picture"));
        }
        let strength = |matches: &[TextMatch]| matches.iter().map(|m| (m.id, m.coverage * m.coverage)).collect::<Vec<_>>();
        let fused = fusion::fuse(&[
            Ranking { weight: fusion::PICTURES, items: pictures.iter().map(|(row, _, _)| (row.id, 1.0)).collect() },
            Ranking { weight: fusion::WORDS, items: strength(&words) },
            Ranking { weight: fusion::NAMES, items: strength(&names) },
        ]);
        let mut by_id: HashMap<i64, (ImageRow, f32, Vec<Moment>)> = pictures.into_iter().map(|p| (p.0.id, p)).collect();
        let snippets: HashMap<i64, Snippet> = words.iter().filter_map(|m| Some((m.id, m.snippet.clone()?))).collect();
        let mut rows = Vec::with_capacity(params.k);
        for (id, _) in fused.into_iter().take(params.k) {
            let mut matched = Vec::new();
            let row = match by_id.remove(&id) {
                Some(row) => {
                    matched.push("picture");
                    row
                }
                None => match self.catalog().image(id)? {
                    Some(row) => {
                        let score = self.vectors.vector(id)?.map_or(0.0, |u| u.iter().zip(v).map(|(a, b)| a * b).sum());
                        (row, score, Vec::new())
                    }
                    None => continue, // removed since this index was opened
                },
            };
            if snippets.contains_key(&id) {
                matched.push("words");
            }
            if names.iter().any(|m| m.id == id) {
                matched.push("name");
            }
            rows.push((row, matched));
        }
        let mut ordered: Vec<(ImageRow, f32, Vec<Moment>)> = Vec::with_capacity(rows.len());
        let mut why: HashMap<i64, Vec<&'static str>> = HashMap::new();
        for ((row, score, moments), matched) in rows {
            why.insert(row.id, matched);
            ordered.push((row, score, moments));
        }
        sort_rows(&mut ordered, params.sort);
        Ok(ordered
            .into_iter()
            .map(|(row, score, moments)| {
                let id = row.id;
                let mut hit = self.hit(row, score, moments);
                hit.matched = why.remove(&id).unwrap_or_default();
                if let (Some(words), Some(snippet)) = (hit.words.as_mut(), snippets.get(&id)) {
                    words.snippet = Some(snippet.clone());
                }
                hit
            })
            .collect())
    }

    /// Hits of the pictures alone, in `params.sort` order, each marked as matched by `why`.
    pub(super) fn hits(&self, mut rows: Vec<(ImageRow, f32, Vec<Moment>)>, params: SearchParams, why: &'static str) -> Vec<Hit> {
        sort_rows(&mut rows, params.sort);
        rows.into_iter().map(|(row, score, moments)| Hit { matched: vec![why], ..self.hit(row, score, moments) }).collect()
    }

    /// The start of the words read in a result (a failed lookup shows it without them).
    pub(super) fn words_of_hit(&self, id: i64) -> Option<HitWords> {
        let text = self.catalog().words_of(id).map_err(|e| tracing::warn!("looking up the words of image #{id}: {e}")).ok()??;
        Some(HitWords { text: text.chars().take(HIT_WORDS_CHARS).collect(), snippet: None })
    }

}
