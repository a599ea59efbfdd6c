//! The k smallest of many values, for neighbour searches: k is small (a few to a few dozen) and
//! the values many (a distance to every training row). One pass keeps the k best so far; after
//! the first few values almost none beats the k-th, so the pass is one predictable comparison
//! per value, where a full selection would move every value around.

/// The `k` smallest of `values` in ascending order (all of them if there are fewer), NaN
/// counting as larger than any number, written into `out`.
pub fn k_smallest(values: &[f64], k: usize, out: &mut Vec<f64>) {
    out.clear();
    let k = k.min(values.len());
    if k == 0 {
        return;
    }
    out.extend_from_slice(&values[..k]);
    out.sort_unstable_by(nan_last);
    let mut worst = out[k - 1];
    for chunk in values[k..].chunks(CHUNK) {
        // Most chunks hold nothing better than the k-th so far: their minimum, taken with
        // vector instructions, says so without looking at each value.
        if !worst.is_nan() && chunk_min(chunk) >= worst {
            continue;
        }
        for &v in chunk {
            // A NaN worst is beaten by any number.
            let beats = if worst.is_nan() {
                !v.is_nan()
            } else {
                v < worst
            };
            if beats {
                let at = out.partition_point(|x| nan_last(x, &v).is_le());
                out.insert(at, v);
                out.truncate(k);
                worst = out[k - 1];
            }
        }
    }
}

/// Values per chunk of the scan.
const CHUNK: usize = 64;

/// The smallest value of a chunk, NaNs left out (a chunk of NaNs gives infinity): eight
/// running minima, which the compiler turns into vector instructions.
#[inline]
fn chunk_min(chunk: &[f64]) -> f64 {
    let mut lanes = [f64::INFINITY; 8];
    let mut parts = chunk.chunks_exact(8);
    for part in parts.by_ref() {
        for l in 0..8 {
            let v = part[l];
            lanes[l] = if v < lanes[l] { v } else { lanes[l] };
        }
    }
    let mut min = f64::INFINITY;
    for &v in lanes.iter().chain(parts.remainder()) {
        min = if v < min { v } else { min };
    }
    min
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
