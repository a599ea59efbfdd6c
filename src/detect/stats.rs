//! Small statistics shared by detectors, written to match NumPy's definitions where a
//! detector's parity with PyOD depends on them.

/// Median; the mean of the two middle values for an even count. NaN for an empty slice.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// NumPy's `linspace(start, stop, num)[i]`: `i * step + start`, with the last value exactly
/// `stop`. PyOD builds ECDF grids and histogram edges this way; matching it keeps scores
/// identical to the last bit.
pub fn linspace_at(start: f64, stop: f64, num: usize, i: usize) -> f64 {
    if num <= 1 {
        return start;
    }
    if i + 1 == num {
        return stop;
    }
    let div = (num - 1) as f64;
    let step = (stop - start) / div;
    if step == 0.0 {
        (i as f64 / div) * (stop - start) + start
    } else {
        i as f64 * step + start
    }
}

/// Biased sample skewness (SciPy's `skew`, `bias=True`); 0 for a (numerically) constant
/// column.
pub fn skewness(values: &[f64]) -> f64 {
    let m = mean(values);
    let n = values.len() as f64;
    let m2 = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
    let m3 = values.iter().map(|v| (v - m).powi(3)).sum::<f64>() / n;
    if m2 <= (f64::EPSILON * m).powi(2) {
        0.0
    } else {
        m3 / m2.powf(1.5)
    }
}

/// Linear-interpolation percentile (NumPy's default method), `q` in 0..=100.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = (q / 100.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    v[lo] + (v[hi] - v[lo]) * frac
}

/// Trailing mean over `window` scores (fewer at the start); NaN scores are left out, and a
/// window with only NaN gives NaN.
pub fn smoothed_scores(scores: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    (0..scores.len())
        .map(|i| {
            let start = (i + 1).saturating_sub(window);
            let (sum, n) = scores[start..=i]
                .iter()
                .filter(|s| !s.is_nan())
                .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            if n == 0 { f64::NAN } else { sum / n as f64 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 50.0), 3.0);
        assert_eq!(percentile(&[0.0, 10.0], 99.0), 9.9);
    }

    #[test]
    fn linspace_ends_exactly_at_stop() {
        assert_eq!(linspace_at(0.0, 1.0, 11, 10), 1.0);
        assert_eq!(linspace_at(0.0, 1.0, 11, 5), 0.5);
        assert_eq!(linspace_at(2.0, 2.0, 3, 1), 2.0);
    }

    #[test]
    fn skewness_sign_and_constant_columns() {
        assert!(skewness(&[0.0, 0.0, 0.0, 10.0]) > 0.0);
        assert!(skewness(&[0.0, 10.0, 10.0, 10.0]) < 0.0);
        assert_eq!(skewness(&[5.0; 10]), 0.0);
    }
}
