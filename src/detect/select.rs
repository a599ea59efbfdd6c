//! The k smallest of many values, for neighbour searches: k is small (a few to a few dozen) and
//! the values many (a distance to every training row). The minimum of each chunk of 16 values
//! comes from vector instructions; the k-th smallest of those minima bounds the answer, so only
//! the few chunks whose minimum is below it are looked at value by value.

/// Values per chunk.
const CHUNK: usize = 16;

/// The `k` smallest of `values` in ascending order (all of them if there are fewer), NaN
/// counting as larger than any number, written into `out`.
#[inline]
pub fn k_smallest(values: &[f64], k: usize, out: &mut Vec<f64>) {
    out.clear();
    let k = k.min(values.len());
    if k == 0 {
        return;
    }
    let minima: Vec<f64> = values.chunks(CHUNK).map(chunk_min).collect();
    if minima.len() <= k {
        return sorted_prefix(values, k, out);
    }
    // k chunks have their minimum at or below the bound: at least k values are.
    out.extend_from_slice(&minima);
    let (_, &mut bound, _) = out.select_nth_unstable_by(k - 1, f64::total_cmp);
    out.clear();
    if bound.is_nan() || bound == f64::INFINITY {
        return sorted_prefix(values, k, out);
    }
    for (chunk, &min) in values.chunks(CHUNK).zip(&minima) {
        if min <= bound {
            out.extend(chunk.iter().copied().filter(|&v| v <= bound));
        }
    }
    // Distances to neighbouring rows are alike, so a chunk holding one near value often holds
    // many: select before sorting.
    if out.len() > k {
        out.select_nth_unstable_by(k - 1, f64::total_cmp);
        out.truncate(k);
    }
    out.sort_unstable_by(f64::total_cmp);
}

/// The slow path for degenerate inputs (too few numbers): sort everything.
fn sorted_prefix(values: &[f64], k: usize, out: &mut Vec<f64>) {
    out.clear();
    out.extend_from_slice(values);
    out.sort_unstable_by(nan_last);
    out.truncate(k);
}

/// The smallest value of a chunk, NaNs left out (NaN if it holds nothing else): running minima
/// in lanes, which the compiler turns into vector instructions.
#[inline(always)]
fn chunk_min(chunk: &[f64]) -> f64 {
    let mut lanes = [f64::NAN; 8];
    let mut parts = chunk.chunks_exact(8);
    for part in parts.by_ref() {
        for l in 0..8 {
            lanes[l] = lanes[l].min(part[l]);
        }
    }
    lanes
        .iter()
        .chain(parts.remainder())
        .fold(f64::NAN, |a, &v| a.min(v))
}

fn nan_last(a: &f64, b: &f64) -> std::cmp::Ordering {
    a.is_nan()
        .cmp(&b.is_nan())
        .then_with(|| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rng::Rng;

    fn reference(values: &[f64], k: usize) -> Vec<f64> {
        let mut v = values.to_vec();
        v.sort_by(nan_last);
        v.truncate(k);
        v
    }

    #[test]
    fn matches_a_full_sort() {
        let mut rng = Rng::seeded(3);
        for (n, k) in [
            (0, 3),
            (5, 3),
            (3, 5),
            (100, 1),
            (1000, 5),
            (1000, 10),
            (2500, 40),
        ] {
            let values: Vec<f64> = (0..n).map(|_| (rng.next_f64() * 50.0).floor()).collect();
            let mut out = Vec::new();
            k_smallest(&values, k, &mut out);
            assert_eq!(out, reference(&values, k), "n {n} k {k}");
        }
    }

    #[test]
    fn infinities_and_nans_sort_last() {
        let mut values = vec![f64::INFINITY; 300];
        values[7] = 2.0;
        values[250] = f64::NAN;
        let mut out = Vec::new();
        k_smallest(&values, 2, &mut out);
        assert_eq!(out, vec![2.0, f64::INFINITY]);
        let mut nans = vec![f64::NAN; 300];
        nans[10] = 1.0;
        k_smallest(&nans, 3, &mut out);
        assert_eq!(out[0], 1.0);
        assert!(out[1].is_nan() && out[2].is_nan());
    }
}
