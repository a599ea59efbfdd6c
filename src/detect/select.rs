//! The k smallest of many values, for neighbour searches: k is small (a few to a few dozen) and
//! the values many (a distance to every training row). A full selection moves every value
//! around; a threshold taken from a strided sample instead keeps only a few dozen candidates
//! in one predictable pass.

/// Sample every this many values for the threshold.
const STRIDE: usize = 8;

/// The `k` smallest of `values` in ascending order (all of them if there are fewer), under
/// `f64::total_cmp` (NaN last), written into `out`.
pub fn k_smallest(values: &[f64], k: usize, out: &mut Vec<f64>) {
    out.clear();
    if k == 0 {
        return;
    }
    if values.len() <= k * STRIDE * 2 {
        out.extend_from_slice(values);
        select_sorted(out, k);
        return;
    }
    // The k-th smallest of a sample: at least k values are at or below it.
    out.extend(values.iter().step_by(STRIDE).copied());
    let (_, &mut threshold, _) = out.select_nth_unstable_by(k - 1, f64::total_cmp);
    out.clear();
    if threshold.is_nan() {
        out.extend_from_slice(values);
    } else {
        out.extend(values.iter().copied().filter(|&v| v <= threshold));
    }
    select_sorted(out, k);
}

/// Keeps the k smallest of `v`, sorted.
fn select_sorted(v: &mut Vec<f64>, k: usize) {
    if v.len() > k {
        v.select_nth_unstable_by(k - 1, f64::total_cmp);
        v.truncate(k);
    }
    v.sort_unstable_by(f64::total_cmp);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rng::Rng;

    fn reference(values: &[f64], k: usize) -> Vec<f64> {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
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
