//! Which frames are kept: each sample compared with the last kept frame on a coarse colour grid,
//! the keep rules, and the cap (see "Sampling rules" in the module docs).

use std::time::Duration;

use image::RgbImage;

use super::types::{Frame, SamplingOptions};

/// Side of the grid a frame is reduced to for comparison.
const GRID: usize = 32;
/// A cell changed when a channel's mean moved by more than this (of full scale).
const CELL_CHANGE: f32 = 0.1;

/// A frame reduced to a [`GRID`]x[`GRID`] grid of mean colours (0..1), row-major RGB.
struct Thumb(Vec<f32>);

impl Thumb {
    fn of(image: &RgbImage) -> Self {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let span = |cell: usize, len: usize| {
            let start = (cell * len / GRID).min(len - 1);
            (start, ((cell + 1) * len / GRID).clamp(start + 1, len))
        };
        let raw = image.as_raw();
        let mut cells = Vec::with_capacity(GRID * GRID * 3);
        for cy in 0..GRID {
            let (y0, y1) = span(cy, h);
            for cx in 0..GRID {
                let (x0, x1) = span(cx, w);
                let mut sum = [0u32; 3];
                for y in y0..y1 {
                    for px in raw[(y * w + x0) * 3..(y * w + x1) * 3].chunks_exact(3) {
                        for c in 0..3 {
                            sum[c] += px[c] as u32;
                        }
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as f32 * 255.0;
                cells.extend(sum.iter().map(|&s| s as f32 / n));
            }
        }
        Self(cells)
    }

    /// Share of cells (0..1) whose colour moved by more than [`CELL_CHANGE`] in any channel.
    fn difference(&self, other: &Thumb) -> f32 {
        let changed = self
            .0
            .chunks_exact(3)
            .zip(other.0.chunks_exact(3))
            .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| (x - y).abs() > CELL_CHANGE))
            .count();
        changed as f32 / (GRID * GRID) as f32
    }
}

/// Why a sample is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Keep {
    First,
    SceneChange,
    Interval,
}

/// The keep rule for one sample, given the time since the last kept frame and since the last
/// scene change (`None`: none yet) and its difference from the last kept frame.
fn keep_rule(
    o: &SamplingOptions,
    since_kept: Duration,
    since_scene: Option<Duration>,
    difference: f32,
) -> Option<Keep> {
    if difference >= o.scene_threshold && since_scene.is_none_or(|gap| gap >= o.min_scene_gap) {
        Some(Keep::SceneChange)
    } else if since_kept >= o.max_interval && difference >= o.same_threshold {
        Some(Keep::Interval)
    } else {
        None
    }
}

/// A kept frame waiting for the cap, with its rank among scene changes.
struct Candidate {
    frame: Frame,
    /// The difference that made it a scene change; 0 for other frames.
    strength: f32,
}

/// Applies the keep rules to samples in time order, thinning to the cap as it goes.
pub(super) struct Selector<'a> {
    options: &'a SamplingOptions,
    last_kept: Option<(Duration, Thumb)>,
    last_scene: Option<Duration>,
    candidates: Vec<Candidate>,
}

impl<'a> Selector<'a> {
    pub(super) fn new(options: &'a SamplingOptions) -> Self {
        Self { options, last_kept: None, last_scene: None, candidates: Vec::new() }
    }

    pub(super) fn offer(&mut self, time: Duration, image: RgbImage) {
        let thumb = Thumb::of(&image);
        let (keep, difference) = match &self.last_kept {
            None => (Some(Keep::First), 0.0),
            Some((kept_at, kept)) => {
                let difference = thumb.difference(kept);
                let since_scene = self.last_scene.map(|at| time.saturating_sub(at));
                (keep_rule(self.options, time.saturating_sub(*kept_at), since_scene, difference), difference)
            }
        };
        let Some(keep) = keep else { return };
        let scene_change = keep == Keep::SceneChange;
        if scene_change {
            self.last_scene = Some(time);
        }
        self.last_kept = Some((time, thumb));
        let strength = if scene_change { difference } else { 0.0 };
        self.candidates.push(Candidate { frame: Frame { time, image, scene_change }, strength });

        let cap = self.options.max_frames.max(1);
        if self.candidates.len() >= 2 * cap {
            self.candidates = apply_cap(std::mem::take(&mut self.candidates), cap);
        }
    }

    pub(super) fn finish(self) -> Vec<Frame> {
        let cap = self.options.max_frames.max(1);
        apply_cap(self.candidates, cap).into_iter().map(|c| c.frame).collect()
    }
}

/// Keeps `cap` of `candidates` (in time order, the first being the video's first frame): the
/// first, the strongest scene changes up to half of the other slots, then a spread over time.
fn apply_cap(candidates: Vec<Candidate>, cap: usize) -> Vec<Candidate> {
    if candidates.len() <= cap {
        return candidates;
    }
    let mut chosen = reserved(&candidates, cap);
    let seconds: Vec<f64> = candidates.iter().map(|c| c.frame.time.as_secs_f64()).collect();
    let free = cap - chosen.iter().filter(|&&c| c).count();
    spread_evenly(&seconds, &mut chosen, free);
    fill_farthest(&seconds, &mut chosen, cap);
    candidates.into_iter().zip(chosen).filter_map(|(c, keep)| keep.then_some(c)).collect()
}

/// Which candidates the cap always keeps: the first, and the strongest scene changes (largest
/// difference, earliest on ties) up to half of the other slots.
fn reserved(candidates: &[Candidate], cap: usize) -> Vec<bool> {
    let mut keep = vec![false; candidates.len()];
    if let Some(first) = keep.first_mut() {
        *first = true;
    }
    let mut scenes: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].frame.scene_change).collect();
    scenes.sort_by(|&a, &b| candidates[b].strength.total_cmp(&candidates[a].strength).then(a.cmp(&b)));
    for &i in scenes.iter().take((cap - 1).div_ceil(2)) {
        keep[i] = true;
    }
    keep
}

/// Adds up to `slots` candidates so the chosen times are as evenly spaced as the candidates
/// allow: each slot goes to the gap between chosen frames (or the tail up to the last candidate)
/// whose even subdivision is currently the coarsest; then each gap takes the candidates nearest
/// to its subdivision points. (Plain farthest-point picking halves gaps in powers of two and
/// leaves some twice as long as needed.)
fn spread_evenly(seconds: &[f64], chosen: &mut [bool], slots: usize) {
    let end = seconds[seconds.len() - 1];
    let anchors: Vec<f64> = (0..seconds.len()).filter(|&i| chosen[i]).map(|i| seconds[i]).collect();
    // (start, stop, is the tail, slots given)
    let mut gaps: Vec<(f64, f64, bool, usize)> = anchors.windows(2).map(|w| (w[0], w[1], false, 0)).collect();
    gaps.push((anchors[anchors.len() - 1], end, true, 0));
    // The longest piece a gap is cut into: a tail's last point sits at its end, inner gaps keep
    // both ends.
    let piece = |&(start, stop, tail, n): &(f64, f64, bool, usize)| {
        let parts = if tail { n.max(1) } else { n + 1 };
        (stop - start) / parts as f64
    };
    for _ in 0..slots {
        let coarsest = (0..gaps.len()).max_by(|&a, &b| piece(&gaps[a]).total_cmp(&piece(&gaps[b])).then(b.cmp(&a)));
        match coarsest {
            Some(g) if piece(&gaps[g]) > 0.0 => gaps[g].3 += 1,
            _ => break,
        }
    }
    for (start, stop, tail, n) in gaps {
        let parts = if tail { n } else { n + 1 };
        for k in 1..=n {
            let target = start + (stop - start) * k as f64 / parts as f64;
            let inside = |i: &usize| !chosen[*i] && seconds[*i] > start && (seconds[*i] < stop || tail);
            let nearest = (0..seconds.len())
                .filter(inside)
                .min_by(|&a, &b| (seconds[a] - target).abs().total_cmp(&(seconds[b] - target).abs()).then(a.cmp(&b)));
            if let Some(i) = nearest {
                chosen[i] = true;
            }
        }
    }
}

/// Tops the chosen set up to `cap` (slots a sparse gap could not use) by repeatedly taking the
/// candidate farthest in time from every chosen one, the earliest on ties.
fn fill_farthest(seconds: &[f64], chosen: &mut [bool], cap: usize) {
    let mut count = chosen.iter().filter(|&&c| c).count();
    while count < cap {
        let distance = |i: usize| {
            (0..seconds.len())
                .filter(|&j| chosen[j])
                .map(|j| (seconds[i] - seconds[j]).abs())
                .fold(f64::INFINITY, f64::min)
        };
        let mut best: Option<(usize, f64)> = None;
        for i in (0..seconds.len()).filter(|&i| !chosen[i]) {
            let d = distance(i);
            if best.is_none_or(|(_, bd)| d > bd) {
                best = Some((i, d));
            }
        }
        let Some((pick, _)) = best else { return };
        chosen[pick] = true;
        count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(r: u8, g: u8, b: u8) -> RgbImage {
        RgbImage::from_pixel(64, 48, image::Rgb([r, g, b]))
    }

    #[test]
    fn difference_is_the_changed_share_of_the_grid() {
        let red = Thumb::of(&solid(255, 0, 0));
        assert_eq!(red.difference(&red), 0.0);
        // Equal-luma colours differ fully.
        assert_eq!(red.difference(&Thumb::of(&solid(0, 128, 0))), 1.0);
        // Small shifts (noise, exposure) do not count.
        assert_eq!(red.difference(&Thumb::of(&solid(240, 10, 10))), 0.0);
        // A quarter of the picture changed.
        let mut quarter = solid(255, 0, 0);
        for y in 0..24 {
            for x in 0..32 {
                quarter.put_pixel(x, y, image::Rgb([0, 0, 255]));
            }
        }
        assert_eq!(red.difference(&Thumb::of(&quarter)), 0.25);
        // Tiny images still make a grid.
        let tiny = Thumb::of(&RgbImage::from_pixel(3, 2, image::Rgb([9, 9, 9])));
        assert_eq!(tiny.0.len(), GRID * GRID * 3);
    }

    #[test]
    fn keep_rules() {
        let o = SamplingOptions::default();
        let s = Duration::from_secs;
        assert_eq!(keep_rule(&o, s(1), None, 0.5), Some(Keep::SceneChange));
        assert_eq!(keep_rule(&o, s(1), Some(Duration::from_millis(500)), 0.5), None, "too close to the last cut");
        assert_eq!(keep_rule(&o, s(11), Some(Duration::from_millis(500)), 0.5), Some(Keep::Interval));
        assert_eq!(keep_rule(&o, s(10), None, 0.1), Some(Keep::Interval));
        assert_eq!(keep_rule(&o, s(10), None, 0.01), None, "the same picture");
        assert_eq!(keep_rule(&o, s(9), None, 0.1), None);
    }

    fn candidate(seconds: f64, scene_change: bool, strength: f32) -> Candidate {
        let frame = Frame { time: Duration::from_secs_f64(seconds), image: RgbImage::new(2, 2), scene_change };
        Candidate { frame, strength }
    }

    #[test]
    fn cap_keeps_the_first_the_strongest_cuts_and_a_spread() {
        // 0 s first; cuts at 5 (0.4), 6 (0.9), 7 (0.8), 50 (0.35); interval frames every 10 s.
        let mut list = vec![candidate(0.0, false, 0.0)];
        for (t, s) in [(5.0, 0.4), (6.0, 0.9), (7.0, 0.8)] {
            list.push(candidate(t, true, s));
        }
        for t in [10.0, 20.0, 30.0, 40.0] {
            list.push(candidate(t, false, 0.0));
        }
        list.push(candidate(50.0, true, 0.35));
        list.push(candidate(60.0, false, 0.0));
        let kept: Vec<f64> = apply_cap(list, 5).iter().map(|c| c.frame.time.as_secs_f64()).collect();
        // First; the 2 strongest cuts (6, 7); then farthest from {0, 6, 7}: 60; then from
        // {0, 6, 7, 60}: 30 or 40 are 23 and 20 away... 30 (23 s) wins.
        assert_eq!(kept, [0.0, 6.0, 7.0, 30.0, 60.0]);

        let one: Vec<f64> = apply_cap(vec![candidate(0.0, false, 0.0), candidate(3.0, true, 1.0)], 1)
            .iter()
            .map(|c| c.frame.time.as_secs_f64())
            .collect();
        assert_eq!(one, [0.0]);
    }
}
