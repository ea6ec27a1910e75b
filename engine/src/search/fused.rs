//! The searcher's fused answers: the pictures' results with the images whose words or names
//! match, in one list (see [`super::fusion`]).

use std::collections::{HashMap, HashSet};

use super::hits::{sort_by_taken, sort_rows, HitWords, HIT_WORDS_CHARS};
use super::searcher::{Hit, Matching, Moment, SearchParams, Searcher};
use super::{
    fusion::{self, Ranking},
    stages,
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
        let (words, names) = stages::timed("words", || -> Result<_> {
            let catalog = self.catalog();
            let words: Vec<TextMatch> = text.in_words(&catalog, CANDIDATES)?.into_iter().filter(keep).collect();
            let names: Vec<TextMatch> = match params.matching {
                Matching::Everything => text.in_names(&catalog, CANDIDATES)?.into_iter().filter(keep).collect(),
                _ => Vec::new(),
            };
            Ok((words, names))
        })?;
        if words.is_empty() && names.is_empty() {
            return Ok(self.hits(pictures, params, "picture"));
        }
        let strength = |matches: &[TextMatch]| matches.iter().map(|m| (m.id, m.coverage * m.coverage)).collect::<Vec<_>>();
        let weights = params.fusion;
        let fused = fusion::fuse_with(
            &[
                Ranking { weight: weights.pictures, items: pictures.iter().map(|(row, _, _)| (row.id, 1.0)).collect() },
                Ranking { weight: weights.words, items: strength(&words) },
                Ranking { weight: weights.names, items: strength(&names) },
            ],
            weights.k,
        );
        let snippets: HashMap<i64, &Snippet> = words.iter().filter_map(|m| Some((m.id, m.snippet.as_ref()?))).collect();
        let named_by: HashSet<i64> = names.iter().map(|m| m.id).collect();
        let mut pictures: HashMap<i64, (ImageRow, f32, Vec<Moment>)> = pictures.into_iter().map(|p| (p.0.id, p)).collect();
        let mut rows = Vec::with_capacity(params.k);
        for (id, _) in fused.into_iter().take(params.k) {
            let (row, by_picture) = match pictures.remove(&id) {
                Some(row) => (row, true),
                None => match self.row_found_by_text(id, v)? {
                    Some(row) => (row, false),
                    None => continue, // removed since this index was opened
                },
            };
            let why = [("picture", by_picture), ("words", snippets.contains_key(&id)), ("name", named_by.contains(&id))];
            rows.push((row, why.into_iter().filter_map(|(why, yes)| yes.then_some(why)).collect::<Vec<_>>()));
        }
        sort_by_taken(&mut rows, params.sort, |((row, _, _), _)| row);
        let hits = rows
            .into_iter()
            .map(|((row, score, moments), matched)| Hit { matched, ..self.hit(row, score, moments) })
            .collect();
        Ok(self.with_words(hits, &snippets))
    }

    /// An image only the words or names found, with its picture's score for the query `v`.
    fn row_found_by_text(&self, id: i64, v: &[f32]) -> Result<Option<(ImageRow, f32, Vec<Moment>)>> {
        let Some(row) = self.catalog().image(id)? else { return Ok(None) };
        let score = self.vectors.vector(id)?.map_or(0.0, |u| u.iter().zip(v).map(|(a, b)| a * b).sum());
        Ok(Some((row, score, Vec::new())))
    }

    /// Hits of the pictures alone, in `params.sort` order, each marked as matched by `why`.
    pub(super) fn hits(&self, mut rows: Vec<(ImageRow, f32, Vec<Moment>)>, params: SearchParams, why: &'static str) -> Vec<Hit> {
        sort_rows(&mut rows, params.sort);
        self.with_words(rows.into_iter().map(|(row, score, moments)| Hit { matched: vec![why], ..self.hit(row, score, moments) }).collect(), &HashMap::new())
    }

    /// `hits` with the start of the words read in each, looked up in one query (a failed
    /// lookup shows them without), and the `snippets` of those the words matched.
    pub(super) fn with_words(&self, mut hits: Vec<Hit>, snippets: &HashMap<i64, &Snippet>) -> Vec<Hit> {
        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let mut texts = self.catalog().words_of_each(&ids, HIT_WORDS_CHARS).unwrap_or_else(|e| {
            tracing::warn!("looking up the words of {} results: {e}", ids.len());
            HashMap::new()
        });
        for hit in &mut hits {
            hit.words = texts.remove(&hit.id).map(|text| HitWords { text, snippet: snippets.get(&hit.id).map(|s| (*s).clone()) });
        }
        hits
    }
}
