//! Which vector index a library gets, by its size: exact search while it is fast, then IVF
//! indexes whose list count grows with the square root of the collection, with 8-bit scalar
//! codes up to a few million vectors and 64-byte product codes beyond. Approximate candidates are
//! re-ranked by exact cosine from the vector file, so scores stay exact; `nprobe` is measured
//! against exact search when the index is trained (see [`super::snapshot`]).

/// What `--factory` says: choose by size, or a FAISS factory string the user fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactoryChoice {
    /// Exact up to [`IndexPolicy::exact_up_to`], then IVF by size.
    Auto,
    /// Always this FAISS factory string (`Flat` = always exact).
    Fixed(String),
}

impl FactoryChoice {
    /// Reads a stored or typed value: `auto` or a factory string.
    pub fn parse(s: &str) -> FactoryChoice {
        match s.trim() {
            "" | "auto" => FactoryChoice::Auto,
            f => FactoryChoice::Fixed(f.to_string()),
        }
    }

    /// As stored in the catalog.
    pub fn as_str(&self) -> &str {
        match self {
            FactoryChoice::Auto => "auto",
            FactoryChoice::Fixed(f) => f,
        }
    }
}

/// The size thresholds of the automatic choice.
#[derive(Debug, Clone, Copy)]
pub struct IndexPolicy {
    /// Exact search up to this many vectors (a flat scan of 100k 512-d vectors takes about
    /// 20 ms on a 2-core machine: still instant while typing).
    pub exact_up_to: u64,
    /// Above this many vectors, IVF lists hold 64-byte PQ codes instead of 512-byte SQ8 codes.
    pub pq_from: u64,
    /// Recall@10 against exact search that `nprobe` is chosen to reach.
    pub target_recall: f32,
}

impl Default for IndexPolicy {
    fn default() -> Self {
        IndexPolicy { exact_up_to: 100_000, pq_from: 4_000_000, target_recall: 0.95 }
    }
}

/// The exact index's factory string.
pub const EXACT: &str = "Flat";

impl IndexPolicy {
    /// The factory for a collection of `n` vectors.
    pub fn factory_for(&self, n: u64) -> String {
        if n <= self.exact_up_to {
            return EXACT.to_string();
        }
        let codes = if n >= self.pq_from { "PQ64" } else { "SQ8" };
        format!("IVF{},{codes}", lists_for(n))
    }

    /// Whether an approximate index trained on `trained_on` vectors still suits `n`: within a
    /// factor of four either way (so list sizes stay within 2x of their aim) and on the same
    /// side of the code-size threshold. Exact search returns below half the exact threshold,
    /// so a library hovering around it does not flip back and forth.
    pub fn still_fits(&self, trained_on: u64, n: u64) -> bool {
        let same_codes = (trained_on >= self.pq_from) == (n >= self.pq_from);
        n > self.exact_up_to / 2 && n <= trained_on.saturating_mul(4) && n.saturating_mul(4) >= trained_on && same_codes
    }
}

/// IVF lists for `n` vectors: the power of two nearest above sqrt(n), 8 to 2048 (k-means
/// training time grows with the list count; 2048 lists train in minutes on 2 cores).
pub fn lists_for(n: u64) -> u32 {
    ((n as f64).sqrt().ceil() as u32).next_power_of_two().clamp(8, 2048)
}

/// How many vectors train an IVF index of `lists` lists: 40 per list (FAISS asks for 39).
pub fn training_size(lists: u32) -> usize {
    lists as usize * 40
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_ivf_by_size() {
        let p = IndexPolicy::default();
        assert_eq!(p.factory_for(10), "Flat");
        assert_eq!(p.factory_for(100_000), "Flat");
        assert_eq!(p.factory_for(100_001), "IVF512,SQ8");
        assert_eq!(p.factory_for(1_000_000), "IVF1024,SQ8");
        assert_eq!(p.factory_for(10_000_000), "IVF2048,PQ64");
    }

    #[test]
    fn retrains_after_growing_or_shrinking_fourfold() {
        let p = IndexPolicy::default();
        assert!(p.still_fits(200_000, 700_000));
        assert!(!p.still_fits(200_000, 900_000));
        assert!(p.still_fits(200_000, 60_000), "hysteresis below the exact threshold");
        assert!(!p.still_fits(200_000, 40_000));
        assert!(!p.still_fits(3_000_000, 5_000_000), "crossing to PQ codes");
    }

    #[test]
    fn choices_round_trip() {
        assert_eq!(FactoryChoice::parse("auto"), FactoryChoice::Auto);
        assert_eq!(FactoryChoice::parse("IVF64,Flat").as_str(), "IVF64,Flat");
    }
}
