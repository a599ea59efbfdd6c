//! The smallest and largest k-th neighbour distance among lag windows, with O(1) work per pair.
//!
//! With lags, every feature row is a window of one series: row t holds `s[t+m-1], …, s[t]`
//! (newest first), so rows t and t-1 share m-1 values. The squared distance between rows i and
//! i+δ then follows from that between rows i-1 and i-1+δ by adding one squared difference and
//! removing another, the recurrence behind the matrix profile (STOMP): a pass over all pairs
//! costs about what one coordinate per pair costs, instead of m, and vectorises along a row.
//! In six or more dimensions a tree cannot prune much, so this beats it several times over.
//!
//! KNN's linear calibration needs only the smallest and largest k-th neighbour distance of the
//! training rows. Rows close to and far from the series' median level give first bounds; one
//! pass over all pairs keeps the pairs closer than the smallest bound, and counts, for each row,
//! neighbours nearest in time that are certainly closer than the largest. That narrows both
//! ends to a few rows, whose distances are then computed directly.
//!
//! The recurrence accumulates rounding, so the pass only selects, with a margin that bounds
//! the rounding (restarting from exact values every few rows); every reported distance is
//! summed over the columns in order from coordinate differences, exactly as the k-d tree sums
//! it, so the results equal the tree's bit for bit.

use std::borrow::Cow;

use super::Matrix;
use super::distance::{add_squared_differences, vectorised};
use super::select::k_smallest;
use super::sliding::{Marks, Sliding};

/// Rows between exact restarts of the recurrence: bounds the accumulated rounding.
const RESTART_EVERY: usize = 32;

/// Near pairs kept per row before the pass gives up and the caller uses a tree: only series
/// with very many near-identical windows get there.
const PAIR_BUDGET_PER_ROW: usize = 32;

/// Seed rows on each side.
const SEEDS: usize = 4;

/// Pairs per row, nearest in time beyond the exclusion window, that may show that a row is
/// not the one farthest from its neighbours.
const BAND: usize = 16;

/// Distances are updated and checked for near pairs this many at a time.
const BLOCK: usize = 64;

/// A lag-embedded matrix, seen as the series it was cut from.
pub struct LagSeries<'a> {
    rows: usize,
    cols: usize,
    /// `s[0..rows+cols-1]`; row t is `s[t..t+cols]` reversed.
    s: Cow<'a, [f64]>,
}

impl<'a> LagSeries<'a> {
    /// The series behind `x` if every row is the previous one shifted by one lag (column c of
    /// row t equals column c-1 of row t-1) and every value is finite; `None` otherwise (gaps
    /// dropped rows, rows were centred, or the features are not lags at all).
    pub fn detect(x: &'a Matrix) -> Option<Self> {
        let s = x.lag_series()?;
        if !s.iter().all(|v| v.is_finite()) {
            return None;
        }
        Some(Self {
            rows: x.rows(),
            cols: x.cols(),
            s,
        })
    }

    /// The smallest and largest k-th neighbour distance over all rows, where row i's
    /// neighbours are the rows more than `w` rows away from it (PyOD's leave-one-out for
    /// w = 0). `None` when very many windows coincide (the caller then uses a tree).
    pub fn kth_distance_range(&self, k: usize, w: usize) -> Option<(f64, f64)> {
        vectorised(
            #[inline(always)]
            || self.range(k, w),
        )
    }

    #[inline(always)]
    fn range(&self, k: usize, w: usize) -> Option<(f64, f64)> {
        let n = self.rows;
        if k == 0 || n < 2 * w + 2 + k {
            return None;
        }
        let mut buf = vec![0.0; n];
        let mut scratch = Vec::with_capacity(8 * k);

        let level = self.s.iter().sum::<f64>() / self.s.len() as f64;
        let (near_level, far_from_level) = self.seed_rows(level);
        let mut upper2 = f64::INFINITY;
        for &i in &near_level {
            upper2 = upper2.min(self.kth_distance2(i, k, w, &mut buf, &mut scratch));
        }
        let mut lower2 = 0.0f64;
        for &i in &far_from_level {
            lower2 = lower2.max(self.kth_distance2(i, k, w, &mut buf, &mut scratch));
        }
        if !upper2.is_finite() {
            return None;
        }

        let centred: Vec<f64> = self.s.iter().map(|v| v - level).collect();
        let scale = centred.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        // Single precision doubles the pairs per instruction; it serves while its rounding
        // margin is small next to the distances sought (no huge spikes), else double does.
        let margin32 = rounding_margin::<f32>(self.cols, scale);
        let (found, margin) = if margin32 < upper2 / 4.0 {
            let v: Vec<f32> = centred.iter().map(|&x| x as f32).collect();
            (
                self.pass(&v, w, lower2 - margin32, upper2 + margin32)?,
                margin32,
            )
        } else {
            let margin = rounding_margin::<f64>(self.cols, scale);
            if !margin.is_finite() {
                return None;
            }
            (
                self.pass(&centred, w, lower2 - margin, upper2 + margin)?,
                margin,
            )
        };

        // Largest: a row with k band neighbours certainly closer than the seed cannot beat it.
        let mut max2 = lower2;
        for (i, &c) in found.band_counts.iter().enumerate() {
            if (c as usize) < k
                && let Some(d2) = self.kth_distance2_above(i, k, w, max2, &mut buf, &mut scratch)
            {
                max2 = max2.max(d2);
            }
        }

        // Smallest: walk the near pairs in increasing (approximate) distance; the first row to
        // gather k of them has the smallest k-th distance up to the rounding margin, so every
        // row that gathers k within twice the margin of it is computed exactly.
        let mut min2 = upper2;
        let mut pairs = found.pairs;
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut degree = vec![0u32; n];
        let mut first: Option<f64> = None;
        for &(d2, i, j) in &pairs {
            if first.is_some_and(|f| d2 > f + 2.0 * margin) {
                break;
            }
            for v in [i as usize, j as usize] {
                degree[v] += 1;
                if degree[v] as usize == k {
                    first.get_or_insert(d2);
                    min2 = min2.min(self.kth_distance2(v, k, w, &mut buf, &mut scratch));
                }
            }
        }
        Some((min2.sqrt(), max2.sqrt()))
    }

    /// The pass over all pairs in the precision of `v` (the centred series).
    #[inline(always)]
    fn pass<T: Lane>(&self, v: &[T], w: usize, below2: f64, near2: f64) -> Option<PassResult> {
        Pass {
            v,
            rows: self.rows,
            cols: self.cols,
            w,
            below2: T::narrow_down(below2),
            near2: T::narrow_up(near2),
            budget: PAIR_BUDGET_PER_ROW * self.rows,
        }
        .run()
    }

    /// The rows whose windows are nearest to and farthest from a flat window at `level` (the
    /// mean): the first tend to lie where rows are densest, the second to be the outliers.
    fn seed_rows(&self, level: f64) -> ([usize; SEEDS], [usize; SEEDS]) {
        let (n, m) = (self.rows, self.cols);
        let sq: Vec<f64> = self.s.iter().map(|v| (v - level) * (v - level)).collect();
        let mut nearest = [(f64::INFINITY, 0usize); SEEDS];
        let mut farthest = [(f64::NEG_INFINITY, 0usize); SEEDS];
        let mut sum: f64 = sq[..m].iter().sum();
        for t in 0..n {
            if t > 0 {
                sum += sq[t + m - 1] - sq[t - 1];
            }
            // Keep the SEEDS smallest and largest, each array sorted from its best.
            if sum < nearest[SEEDS - 1].0 {
                nearest[SEEDS - 1] = (sum, t);
                nearest.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            if sum > farthest[SEEDS - 1].0 {
                farthest[SEEDS - 1] = (sum, t);
                farthest.sort_by(|a, b| b.0.total_cmp(&a.0));
            }
        }
        (nearest.map(|(_, t)| t), farthest.map(|(_, t)| t))
    }

    /// Squared distances from row `i` to every row, summed over the columns in order from
    /// `row_j[c] - row_i[c]`, as the k-d tree computes them.
    #[inline(always)]
    fn profile(&self, i: usize, out: &mut [f64]) {
        let m = self.cols;
        let n = out.len();
        for c in 0..m {
            let col = &self.s[m - 1 - c..m - 1 - c + n];
            add_squared_differences(out, col, self.s[i + m - 1 - c], c == 0);
        }
    }

    /// The k-th smallest squared distance from row `i` to the rows more than `w` rows away.
    #[inline(always)]
    fn kth_distance2(
        &self,
        i: usize,
        k: usize,
        w: usize,
        buf: &mut [f64],
        scratch: &mut Vec<f64>,
    ) -> f64 {
        self.profile(i, buf);
        buf[i.saturating_sub(w)..(i + w + 1).min(self.rows)].fill(f64::INFINITY);
        k_smallest(buf, k, scratch);
        scratch.get(k - 1).copied().unwrap_or(f64::INFINITY)
    }
}

impl LagSeries<'_> {
    /// The k smallest distances of every `every`-th row (rows 0, every, 2·every, …) to the
    /// rows more than `w` rows away from it, ascending, `k` per row one row after another:
    /// what the tree's `nearest_distances_except` gives, bit for bit. `None` when the series
    /// is not finite or has too few rows (the caller then uses a tree).
    ///
    /// Row i's squared distances to all rows follow from row i-1's by the recurrence, in
    /// place: kept by offset δ = j - i, row i's distance to row j sits where row i-1's to row
    /// j-1 did. They only select: every row whose approximate distance is within twice the
    /// rounding margin of the approximate k-th is computed exactly, so rounding in the
    /// recurrence cannot change which distances are reported.
    pub fn all_nearest(&self, k: usize, w: usize, every: usize) -> Option<Vec<f64>> {
        vectorised(
            #[inline(always)]
            || self.nearest_of_every_row(k, w, every.max(1)),
        )
    }

    #[inline(always)]
    fn nearest_of_every_row(&self, k: usize, w: usize, every: usize) -> Option<Vec<f64>> {
        let (n, m) = (self.rows, self.cols);
        if k == 0 || n < 2 * w + 1 + k {
            return None;
        }
        let level = self.s.iter().sum::<f64>() / self.s.len() as f64;
        let centred: Vec<f64> = self.s.iter().map(|x| x - level).collect();
        let scale = centred.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        // Single precision doubles the distances per instruction; it serves while its rounding
        // margin is small next to the distances sought (no huge spikes: the rows nearest the
        // mean level have about the smallest k-th distances), and while few rows need the
        // direct fallback. Else double does.
        let margin32 = rounding_margin::<f32>(m, scale);
        let (densest, _) = self.seed_rows(level);
        let (mut buf, mut scratch) = (vec![0.0; n], Vec::with_capacity(8 * k));
        let smallest2 = densest
            .iter()
            .map(|&i| self.kth_distance2(i, k, w, &mut buf, &mut scratch))
            .fold(f64::INFINITY, f64::min);
        if margin32 < smallest2 / 8.0 {
            let v: Vec<f32> = centred.iter().map(|&x| x as f32).collect();
            if let Some(out) = self.nearest_in(&v, k, w, every, margin32, n / 16) {
                return Some(out);
            }
        }
        let margin = rounding_margin::<f64>(m, scale);
        if !margin.is_finite() {
            return None;
        }
        self.nearest_in(&centred, k, w, every, margin, n)
    }

    /// The search in the precision of `v` (the centred series), whose recurrence stays within
    /// `margin` of the direct sums; `None` if more than `fallbacks` rows need the direct way.
    #[inline(always)]
    fn nearest_in<T: Lane + Sliding>(
        &self,
        v: &[T],
        k: usize,
        w: usize,
        every: usize,
        margin: f64,
        fallbacks: usize,
    ) -> Option<Vec<f64>> {
        let (n, m) = (self.rows, self.cols);
        let budget = 8 * k + 64;
        let mut by_delta = vec![T::ZERO; 2 * n - 1];
        let mut scratch = Vec::with_capacity(8 * k);
        // The current row's candidates as (approximate squared distance, row), then as exact.
        let mut near: Vec<(f64, usize)> = Vec::with_capacity(budget + 16);
        let mut exact: Vec<(f64, usize)> = Vec::with_capacity(budget + 16);
        // The previous row's k nearest rows.
        let mut previous: Vec<usize> = Vec::with_capacity(k);
        let mut shifted: Vec<f64> = Vec::with_capacity(k);
        let mut wide = vec![0.0f64; n];
        let mut overflows = 0;
        let mut out = Vec::with_capacity(n * k);
        for i in 0..n {
            // Row i's distance to row j is by_delta[n - 1 - i + j]. Rows within w of row i
            // are no neighbours: offsets |δ| <= w are never needed, by any row, so they are
            // never computed.
            let row = &mut by_delta[n - 1 - i..2 * n - 1 - i];
            let (lo, hi) = (i.saturating_sub(w), (i + w + 1).min(n));
            let outside = |j: usize| j < lo || j >= hi;
            let direct = |j: usize| {
                (0..m).fold(T::ZERO, |d2, l| {
                    let d = v[j + l] - v[i + l];
                    d2 + d * d
                })
            };
            let restart = i % RESTART_EVERY == 0;
            if restart {
                for (start, end) in [(0, lo), (hi, n)] {
                    let part = &mut row[start..end];
                    part.fill(T::ZERO);
                    for l in 0..m {
                        let q = v[i + l];
                        for (d2, &x) in part.iter_mut().zip(&v[start + l..end + l]) {
                            let d = x - q;
                            *d2 = *d2 + d * d;
                        }
                    }
                }
            } else if lo > 0 {
                // The first row has no row before it on its diagonal.
                row[0] = direct(0);
            }
            let step = if restart {
                (T::ZERO, T::ZERO)
            } else {
                (v[i + m - 1], v[i - 1])
            };
            if i % every != 0 {
                // A row whose own neighbours are not asked for is only advanced; the
                // neighbours of the last row that was searched move along with it.
                if !restart {
                    let mut marks = Marks {
                        within: T::narrow_down(f64::NEG_INFINITY),
                        base: 0,
                        cap: 0,
                        near: &mut near,
                    };
                    advance_outside(row, v, m, step, [(1, lo), (hi, n)], &mut marks);
                }
                previous.retain_mut(|j| {
                    *j += 1;
                    *j < n
                });
                continue;
            }

            // The approximate k-th distance is bounded by the previous row's neighbours one
            // row later: their windows moved along with this row's, so they are usually near
            // it too. Read before the row is advanced, with the advance's own arithmetic.
            shifted.clear();
            for &j in &previous {
                let j = j + 1;
                if j < n && outside(j) {
                    let d2 = if restart {
                        row[j]
                    } else {
                        let de = step.0 - v[j + m - 1];
                        let dl = step.1 - v[j - 1];
                        row[j] + de * de - dl * dl
                    };
                    shifted.push(d2.wide());
                }
            }
            // At most k of them: the k-th is the largest.
            let bound = (shifted.len() >= k)
                .then(|| shifted.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            // The exact k-th distance is at most a margin above the bound, so every row within
            // it is at most two margins above the bound in the approximation: those are noted
            // while the row is advanced. A restarted row, or one without a bound (the first
            // row, or neighbours that ran off the end of the series), is scanned afterwards,
            // with the bound found from the row itself.
            let noted = bound
                .filter(|_| !restart)
                .map(|b| T::narrow_up(b + 2.0 * margin));
            near.clear();
            if !restart {
                let mut marks = Marks {
                    within: noted.unwrap_or(T::narrow_down(f64::NEG_INFINITY)),
                    base: 0,
                    cap: budget,
                    near: &mut near,
                };
                advance_outside(row, v, m, step, [(1, lo), (hi, n)], &mut marks);
            }
            match noted {
                // The advance skipped row 0, which starts its diagonal.
                Some(within) => {
                    if lo > 0 && row[0] <= within && near.len() <= budget {
                        near.push((row[0].wide(), 0));
                    }
                }
                None => {
                    let bound = bound.unwrap_or_else(|| {
                        for (j, d2) in wide.iter_mut().enumerate() {
                            *d2 = if outside(j) {
                                row[j].wide()
                            } else {
                                f64::INFINITY
                            };
                        }
                        k_smallest(&wide, k, &mut scratch);
                        scratch.get(k - 1).copied().unwrap_or(f64::INFINITY)
                    });
                    let within = T::narrow_up(bound + 2.0 * margin);
                    for j in (0..lo).chain(hi..n) {
                        if row[j] <= within && near.len() <= budget {
                            near.push((row[j].wide(), j));
                        }
                    }
                }
            }
            exact.clear();
            if near.len() > budget {
                // Very many near-identical windows: this row directly.
                overflows += 1;
                if overflows > fallbacks {
                    return None;
                }
                self.profile(i, &mut wide);
                wide[lo..hi].fill(f64::INFINITY);
                k_smallest(&wide, k, &mut scratch);
                let kth = scratch.get(k - 1).copied().unwrap_or(f64::INFINITY);
                exact.extend(
                    wide.iter()
                        .enumerate()
                        .filter(|&(_, &d2)| d2 <= kth)
                        .map(|(j, &d2)| (d2, j)),
                );
            } else {
                // Narrowed by the candidates' own k-th: only rows within two margins of it
                // can be among the k nearest, and only they are computed exactly.
                if near.len() >= k {
                    near.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
                }
                let kth = near.get(k - 1).map_or(f64::INFINITY, |p| p.0) + 2.0 * margin;
                exact.extend(
                    near.iter()
                        .filter(|p| p.0 <= kth)
                        .map(|&(_, j)| (self.distance2(i, j), j)),
                );
            }
            if exact.len() > k {
                exact.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
                exact.truncate(k);
            }
            exact.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            out.extend(exact.iter().map(|(d2, _)| d2.sqrt()));
            previous.clear();
            previous.extend(exact.iter().map(|&(_, j)| j));
        }
        Some(out)
    }

    /// The squared distance between rows i and j, summed as the tree sums it.
    #[inline(always)]
    fn distance2(&self, i: usize, j: usize) -> f64 {
        let m = self.cols;
        let mut d2 = 0.0;
        for c in 0..m {
            let d = self.s[j + m - 1 - c] - self.s[i + m - 1 - c];
            d2 = if c == 0 { d * d } else { d2 + d * d };
        }
        d2
    }

    /// Row i's k-th smallest squared distance, if it is above `floor2`: rows are compared a
    /// chunk at a time, and as soon as k of them are closer than that the answer is `None`.
    #[inline(always)]
    fn kth_distance2_above(
        &self,
        i: usize,
        k: usize,
        w: usize,
        floor2: f64,
        buf: &mut [f64],
        scratch: &mut Vec<f64>,
    ) -> Option<f64> {
        const CHUNK: usize = 128;
        let (n, m) = (self.rows, self.cols);
        let (lo, hi) = (i.saturating_sub(w), (i + w + 1).min(n));
        let mut closer = 0;
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK).min(n);
            let out = &mut buf[start..end];
            for c in 0..m {
                let col = &self.s[start + m - 1 - c..end + m - 1 - c];
                add_squared_differences(out, col, self.s[i + m - 1 - c], c == 0);
            }
            // Rows inside the exclusion window are no neighbours.
            let (skip_lo, skip_hi) = (lo.clamp(start, end), hi.clamp(start, end));
            out[skip_lo - start..skip_hi - start].fill(f64::INFINITY);
            closer += out.iter().filter(|&&d2| d2 < floor2).count();
            if closer >= k {
                return None;
            }
            start = end;
        }
        k_smallest(buf, k, scratch);
        scratch.get(k - 1).copied()
    }
}

/// The float type of the pass.
trait Lane:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
{
    const ZERO: Self;
    const EPSILON: f64;
    /// The nearest value not above / not below `x`, so a threshold only ever errs on the
    /// side its margin already allows for.
    fn narrow_down(x: f64) -> Self;
    fn narrow_up(x: f64) -> Self;
    fn wide(self) -> f64;
}

impl Lane for f64 {
    const ZERO: Self = 0.0;
    const EPSILON: f64 = f64::EPSILON;
    fn narrow_down(x: f64) -> Self {
        x
    }
    fn narrow_up(x: f64) -> Self {
        x
    }
    fn wide(self) -> f64 {
        self
    }
}

impl Lane for f32 {
    const ZERO: Self = 0.0;
    const EPSILON: f64 = f32::EPSILON as f64;
    fn narrow_down(x: f64) -> Self {
        let y = x as f32;
        if (y as f64) > x { y.next_down() } else { y }
    }
    fn narrow_up(x: f64) -> Self {
        let y = x as f32;
        if (y as f64) < x { y.next_up() } else { y }
    }
    fn wide(self) -> f64 {
        self as f64
    }
}

/// An upper bound, in precision `T`, on how far a squared distance from the pass can be from
/// the directly summed one, for windows of `m` values of magnitude at most `scale` (after
/// centring): rounding each value to `T`, then per step one term of at most (2 scale)² added
/// and one removed, each rounded, for at most `RESTART_EVERY` steps after a direct sum. Twice
/// that, for safety.
fn rounding_margin<T: Lane>(m: usize, scale: f64) -> f64 {
    let m = m as f64;
    let steps = (RESTART_EVERY + 1) as f64;
    let per_unit = steps * (24.0 + 8.0 * m) + 16.0 * m + 8.0 * m * (m + 2.0);
    2.0 * per_unit * T::EPSILON * scale * scale + f64::MIN_POSITIVE
}

/// One pass over every pair (i, i + δ) with δ > w, row by row. The current row's distances
/// are kept by δ, so the recurrence updates them in place.
struct Pass<'a, T> {
    v: &'a [T],
    rows: usize,
    cols: usize,
    w: usize,
    /// Band pairs below this count towards both rows (certainly closer than the seed).
    below2: T,
    /// Pairs below this are kept as candidates for the smallest k-th distance.
    near2: T,
    budget: usize,
}

struct PassResult {
    band_counts: Vec<u32>,
    pairs: Vec<(f64, u32, u32)>,
}

impl<T: Lane> Pass<'_, T> {
    #[inline(always)]
    fn run(&self) -> Option<PassResult> {
        let (n, m, w, v) = (self.rows, self.cols, self.w, self.v);
        let mut band_counts = vec![0u32; n];
        let mut pairs = Vec::new();
        let mut by_delta = vec![T::ZERO; n];
        for i in 0..n {
            let (lo, hi) = (w + 1, n - i);
            if lo >= hi {
                break;
            }
            let restart = i % RESTART_EVERY == 0;
            let mut start = lo;
            while start < hi {
                let end = (start + BLOCK).min(hi);
                let row = &mut by_delta[start..end];
                let near = if restart {
                    direct_block(v, m, i, start, row, self.near2)
                } else {
                    recur_block(
                        row,
                        &v[i + start + m - 1..i + end + m - 1],
                        &v[i + start - 1..i + end - 1],
                        (v[i + m - 1], v[i - 1]),
                        self.near2,
                    )
                };
                if near {
                    for (c, chunk) in row.chunks(8).enumerate() {
                        if !chunk.iter().fold(false, |hit, &d2| hit | (d2 < self.near2)) {
                            continue;
                        }
                        for (d, &d2) in chunk.iter().enumerate() {
                            if d2 < self.near2 {
                                pairs.push((d2.wide(), i as u32, (i + start + c * 8 + d) as u32));
                            }
                        }
                    }
                    if pairs.len() > self.budget {
                        return None;
                    }
                }
                start = end;
            }
            let band = &by_delta[lo..hi.min(lo + BAND)];
            let mut own = 0;
            for (&d2, count) in band.iter().zip(&mut band_counts[i + lo..]) {
                let close = (d2 < self.below2) as u32;
                own += close;
                *count += close;
            }
            band_counts[i] += own;
        }
        Some(PassResult { band_counts, pairs })
    }
}

/// Advances a row's distances by one step of the recurrence over the ranges of rows given
/// (those outside the exclusion window), noting near ones in `marks` with their row numbers.
#[inline(always)]
fn advance_outside<T: Sliding>(
    row: &mut [T],
    v: &[T],
    m: usize,
    step: (T, T),
    ranges: [(usize, usize); 2],
    marks: &mut Marks<T>,
) {
    for (start, end) in ranges {
        if start < end {
            marks.base = start;
            T::step_and_mark(
                &mut row[start..end],
                &v[start + m - 1..end + m - 1],
                &v[start - 1..end - 1],
                step,
                marks,
            );
        }
    }
}

/// Row i's squared distances to rows i + δ for the block's δs, directly (a restart of the
/// recurrence); says whether any is below `near2`.
#[inline(always)]
fn direct_block<T: Lane>(
    v: &[T],
    m: usize,
    i: usize,
    start: usize,
    out: &mut [T],
    near2: T,
) -> bool {
    let len = out.len();
    out.fill(T::ZERO);
    for l in 0..m {
        let q = v[i + l];
        for (o, &x) in out.iter_mut().zip(&v[i + start + l..i + start + l + len]) {
            let d = x - q;
            *o = *o + d * d;
        }
    }
    out.iter().fold(false, |near, &d2| near | (d2 < near2))
}

/// `D(i, i+δ) = D(i-1, i-1+δ) + (v[i+m-1] - v[i+δ+m-1])² - (v[i-1] - v[i+δ-1])²` in place
/// over one block; says whether any result is below `near2`.
#[inline(always)]
fn recur_block<T: Lane>(
    row: &mut [T],
    entering: &[T],
    leaving: &[T],
    (a, b): (T, T),
    near2: T,
) -> bool {
    let mut near = false;
    for ((d2, &e), &l) in row.iter_mut().zip(entering).zip(leaving) {
        let de = a - e;
        let dl = b - l;
        let d = *d2 + de * de - dl * dl;
        *d2 = d;
        near |= d < near2;
    }
    near
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::kdtree::KdIndex;
    use crate::detect::rng::Rng;

    fn lagged(series: &[f64], m: usize) -> Matrix {
        let rows: Vec<Vec<f64>> = (m - 1..series.len())
            .map(|t| (0..m).map(|c| series[t - c]).collect())
            .collect();
        Matrix::from_rows(&rows).unwrap()
    }

    fn tree_range(x: &Matrix, k: usize, w: usize) -> (f64, f64) {
        let index = KdIndex::build(x);
        let d: Vec<f64> = x
            .iter_rows()
            .enumerate()
            .map(|(i, row)| {
                *index
                    .nearest_distances_except(row, k, |j| j.abs_diff(i) <= w)
                    .last()
                    .unwrap()
            })
            .collect();
        (
            d.iter().copied().fold(f64::INFINITY, f64::min),
            d.iter().copied().fold(0.0, f64::max),
        )
    }

    fn walk(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = Rng::seeded(seed);
        let mut level = 0.0;
        (0..n)
            .map(|t| {
                level += rng.next_f64() - 0.5;
                1000.0 + level + 5.0 * (t as f64 / 40.0).sin() + rng.next_f64()
            })
            .collect()
    }

    #[test]
    fn lag_matrices_are_recognised_and_others_not() {
        let s = walk(1, 50);
        let x = lagged(&s, 4);
        assert_eq!(LagSeries::detect(&x).unwrap().s, s.as_slice());
        let rows: Vec<Vec<f64>> = x.iter_rows().map(|r| r.to_vec()).collect();
        let mut gap = rows.clone();
        gap.remove(10);
        assert!(LagSeries::detect(&Matrix::from_rows(&gap).unwrap()).is_none());
        let mut nan = rows;
        nan[3][0] = f64::NAN;
        assert!(LagSeries::detect(&Matrix::from_rows(&nan).unwrap()).is_none());
    }

    #[test]
    fn the_range_equals_the_trees_bit_for_bit() {
        for (seed, n, m, k, w) in [
            (1, 1000, 6, 5, 0),
            (2, 700, 11, 10, 100),
            (3, 300, 3, 1, 0),
            (4, 200, 6, 5, 20),
        ] {
            let x = lagged(&walk(seed, n), m);
            let lag = LagSeries::detect(&x).unwrap();
            assert_eq!(
                lag.kth_distance_range(k, w),
                Some(tree_range(&x, k, w)),
                "seed {seed}"
            );
            // The portable code path, whatever this CPU has.
            assert_eq!(lag.range(k, w), Some(tree_range(&x, k, w)), "seed {seed}");
        }
    }

    fn tree_nearest(x: &Matrix, k: usize, w: usize, every: usize) -> Vec<f64> {
        let index = KdIndex::build(x);
        x.iter_rows()
            .enumerate()
            .step_by(every)
            .flat_map(|(i, row)| index.nearest_distances_except(row, k, |j| j.abs_diff(i) <= w))
            .collect()
    }

    #[test]
    fn every_rows_neighbours_equal_the_trees_bit_for_bit() {
        let mut spiky = walk(7, 600);
        spiky[300] += 1e7;
        let mut flat = vec![3.0; 400];
        flat[100] = 50.0;
        let repeating: Vec<f64> = (0..400)
            .map(|t| (t % 10) as f64 + 0.01 * t as f64)
            .collect();
        for (name, s, m, k, w) in [
            ("walk", walk(1, 1000), 11, 10, 100),
            ("walk, no window", walk(2, 500), 6, 5, 0),
            ("one neighbour", walk(3, 200), 3, 1, 0),
            ("huge spike", spiky, 6, 5, 20),
            ("flat with a spike", flat, 6, 5, 0),
            ("repeating", repeating, 6, 5, 3),
        ] {
            let x = lagged(&s, m);
            let lag = LagSeries::detect(&x).unwrap();
            // Every row, and every 2nd, 3rd or 7th (the rows in between are only advanced).
            for every in [1, 2, 3, 7] {
                let expected = tree_nearest(&x, k, w, every);
                let at = format!("{name}, every {every}");
                assert_eq!(
                    lag.all_nearest(k, w, every).as_ref(),
                    Some(&expected),
                    "{at}"
                );
                // The portable code path, whatever this CPU has.
                assert_eq!(
                    lag.nearest_of_every_row(k, w, every).as_ref(),
                    Some(&expected),
                    "{at}"
                );
                // Each precision on its own, however wide its margin (rows then go direct).
                let (single, double) = each_precision(&lag, &s, k, w, every);
                assert_eq!(single.as_ref(), Some(&expected), "{at}, single");
                assert_eq!(double, Some(expected), "{at}, double");
            }
        }
    }

    /// Every row's neighbours in single, then in double precision, with no limit on the rows
    /// that go direct.
    fn each_precision(
        lag: &LagSeries,
        s: &[f64],
        k: usize,
        w: usize,
        every: usize,
    ) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
        let level = s.iter().sum::<f64>() / s.len() as f64;
        let centred: Vec<f64> = s.iter().map(|x| x - level).collect();
        let scale = centred.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let single: Vec<f32> = centred.iter().map(|&x| x as f32).collect();
        let (n, m) = (lag.rows, lag.cols);
        let margin32 = rounding_margin::<f32>(m, scale);
        let margin64 = rounding_margin::<f64>(m, scale);
        (
            vectorised(|| lag.nearest_in(&single, k, w, every, margin32, n)),
            lag.nearest_in(&centred, k, w, every, margin64, n),
        )
    }

    #[test]
    fn short_series_whose_ends_repeat_equal_the_tree_in_both_precisions() {
        // A pattern at both ends makes the last rows neighbours of the first: a row whose
        // previous neighbours run off the end has no bound and is searched in full.
        for seed in 0..40u64 {
            let mut rng = Rng::seeded(seed);
            let pattern: Vec<f64> = (0..12).map(|_| rng.next_f64() * 10.0).collect();
            let mut s = pattern.clone();
            s.extend(
                walk(seed, 40 + (seed as usize % 5) * 10)
                    .iter()
                    .map(|v| v - 990.0),
            );
            s.extend(pattern.iter().map(|v| v + 0.001 * rng.next_f64()));
            let (m, k, w) = (
                3 + seed as usize % 4,
                1 + seed as usize % 5,
                seed as usize % 7,
            );
            let x = lagged(&s, m);
            let lag = LagSeries::detect(&x).unwrap();
            let every = 1 + seed as usize % 3;
            let expected = tree_nearest(&x, k, w, every);
            let (single, double) = each_precision(&lag, &s, k, w, every);
            assert_eq!(single.as_ref(), Some(&expected), "seed {seed}, single");
            assert_eq!(double, Some(expected), "seed {seed}, double");
        }
    }

    #[test]
    fn a_huge_spike_makes_the_pass_use_double_precision_or_hand_over() {
        let mut s = walk(6, 800);
        s[400] += 1e7;
        let x = lagged(&s, 6);
        let lag = LagSeries::detect(&x).unwrap();
        let level = lag.s.iter().sum::<f64>() / lag.s.len() as f64;
        let scale = lag.s.iter().fold(0.0f64, |a, v| a.max((v - level).abs()));
        // Single precision's margin would swamp the distances sought.
        assert!(rounding_margin::<f32>(6, scale) > 1.0);
        // Even double precision's margin is wide next to the quiet part's distances, so the
        // near pairs overflow and the tree takes over; a moderate spike stays in the pass.
        assert_eq!(lag.kth_distance_range(5, 0), None);
        let mut s = walk(6, 800);
        s[400] += 1e4;
        let x = lagged(&s, 6);
        let lag = LagSeries::detect(&x).unwrap();
        assert_eq!(lag.kth_distance_range(5, 0), Some(tree_range(&x, 5, 0)));
    }

    #[test]
    fn spikes_on_a_flat_line_and_repeating_patterns() {
        let mut s = vec![3.0; 500];
        s[100] = 50.0;
        s[300] = -20.0;
        let x = lagged(&s, 6);
        // Hundreds of identical windows: exact, or handed back to the tree.
        if let Some(range) = LagSeries::detect(&x).unwrap().kth_distance_range(5, 0) {
            assert_eq!(range, tree_range(&x, 5, 0));
        }
        let s: Vec<f64> = (0..400)
            .map(|t| (t % 10) as f64 + 0.01 * t as f64)
            .collect();
        let x = lagged(&s, 6);
        let lag = LagSeries::detect(&x).unwrap();
        assert_eq!(lag.kth_distance_range(5, 0), Some(tree_range(&x, 5, 0)));
    }
}
