//! One ranked list from several: the pictures (CLIP), the words read in images, and the file
//! names, by weighted reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009):
//!
//! ```text
//! fused(image) = Σ over lists  weight(list) · strength(image in list) / (K + rank(image in list))
//! ```
//!
//! Ranks, not scores, are added: a cosine similarity and a BM25 score are not on one scale.
//! K = 60 is the paper's, which damps the difference between neighbouring ranks.
//!
//! The weights: words weigh twice the pictures, so an image holding every word of the query
//! ranks above the best picture that holds none (a text query finds its receipt at rank 1
//! whatever CLIP thinks of it), while a query no image's words hold ranks exactly as CLIP alone
//! does. A name match weighs as much as the pictures. The strength is the share of the query's
//! words an image holds, squared: holding half of them is a quarter of the pull. They were
//! chosen by a sweep on the labelled sets (`cargo bench --bench ocr`, "fusion weights"): the
//! shapes' CLIP queries and the OCR set's text queries, in one library with the demo model.

/// The weights and the rank constant; [`Fusion::default`] is the tuned one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    /// The rank constant.
    pub k: f32,
    /// The pictures' (CLIP's) weight.
    pub pictures: f32,
    /// The words' weight.
    pub words: f32,
    /// The names' weight.
    pub names: f32,
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion { k: K, pictures: PICTURES, words: WORDS, names: NAMES }
    }
}

/// The rank constant.
pub const K: f32 = 60.0;
/// Each list's weight.
pub const PICTURES: f32 = 1.0;
/// See the module docs.
pub const WORDS: f32 = 2.0;
/// See the module docs.
pub const NAMES: f32 = 1.0;

/// One list to fuse: its weight and its images best first, each with its strength (0 to 1).
pub struct Ranking {
    /// How much the list counts.
    pub weight: f32,
    /// (image id, strength), best first.
    pub items: Vec<(i64, f32)>,
}

/// Image ids by fused score, best first; ties keep the order of the earlier lists.
pub fn fuse(lists: &[Ranking]) -> Vec<(i64, f32)> {
    fuse_with(lists, K)
}

/// As [`fuse`] with the rank constant `k`.
pub fn fuse_with(lists: &[Ranking], k: f32) -> Vec<(i64, f32)> {
    let mut scores: Vec<(i64, f32, usize)> = Vec::new();
    let mut at: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for list in lists {
        for (rank, &(id, strength)) in list.items.iter().enumerate() {
            let add = list.weight * strength / (k + rank as f32 + 1.0);
            match at.get(&id) {
                Some(&i) => scores[i].1 += add,
                None => {
                    at.insert(id, scores.len());
                    scores.push((id, add, scores.len()));
                }
            }
        }
    }
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    scores.into_iter().map(|(id, score, _)| (id, score)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(fused: Vec<(i64, f32)>) -> Vec<i64> {
        fused.into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn one_list_keeps_its_order() {
        let pictures = Ranking { weight: PICTURES, items: vec![(5, 1.0), (3, 1.0), (9, 1.0)] };
        assert_eq!(ids(fuse(&[pictures])), [5, 3, 9]);
    }

    #[test]
    fn an_image_holding_every_word_beats_the_best_picture() {
        let pictures = Ranking { weight: PICTURES, items: (1..=100).map(|id| (id, 1.0)).collect() };
        let words = Ranking { weight: WORDS, items: vec![(500, 1.0)] };
        assert_eq!(ids(fuse(&[pictures, words]))[..2], [500, 1]);
    }

    #[test]
    fn half_the_words_is_a_weaker_pull_than_all() {
        let pictures = Ranking { weight: PICTURES, items: vec![(1, 1.0), (2, 1.0)] };
        let words = Ranking { weight: WORDS, items: vec![(7, 1.0), (8, 0.5 * 0.5)] };
        assert_eq!(ids(fuse(&[pictures, words])), [7, 1, 2, 8]);
    }

    #[test]
    fn agreeing_lists_add_up() {
        let pictures = Ranking { weight: PICTURES, items: vec![(1, 1.0), (2, 1.0), (3, 1.0)] };
        let names = Ranking { weight: NAMES, items: vec![(3, 1.0)] };
        assert_eq!(ids(fuse(&[pictures, names]))[0], 3);
    }
}
