//! The Numenta Anomaly Benchmark scorer: per-row weights from labelled windows, the score of a
//! detector at a threshold, the threshold that maximises it, and the normalised score. The
//! rules are NAB v1.1's (see `tests/fixtures/nab/README.md`); pure functions over rows.

use std::collections::HashMap;

/// A scoring profile's costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub tp_weight: f64,
    pub fn_weight: f64,
    pub fp_weight: f64,
}

pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp_weight: 1.0,
        fn_weight: 1.0,
        fp_weight: 0.11,
    },
    Profile {
        name: "reward_low_FP_rate",
        tp_weight: 1.0,
        fn_weight: 1.0,
        fp_weight: 0.22,
    },
    Profile {
        name: "reward_low_FN_rate",
        tp_weight: 1.0,
        fn_weight: 2.0,
        fp_weight: 0.11,
    },
];

/// One scored file: its rows' scores and its labelled windows as inclusive row ranges.
#[derive(Debug, Clone)]
pub struct ScoredFile {
    pub scores: Vec<f64>,
    pub windows: Vec<(usize, usize)>,
}

/// The outcome at one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct NabScore {
    pub raw: f64,
    pub threshold: f64,
    pub normalized: f64,
    pub windows_detected: usize,
    pub windows_missed: usize,
    pub tp_rows: usize,
    pub fp_rows: usize,
    pub fn_rows: usize,
    pub tn_rows: usize,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn scaled(p: f64) -> f64 {
    if p > 3.0 {
        -1.0
    } else {
        2.0 * sigmoid(-5.0 * p) - 1.0
    }
}

/// Probationary rows at the start of a file of `n` rows, never scored.
pub fn probation(n: usize) -> usize {
    ((0.15 * n as f64).floor() as usize).min(750)
}

/// A scorable row: its weight if detected, and which window it is in.
struct Row {
    score: f64,
    weight: f64,
    window: Option<usize>,
}

fn rows_of(files: &[ScoredFile], profile: &Profile) -> (Vec<Row>, usize) {
    let max_tp = scaled(-1.0);
    let mut rows = Vec::new();
    let mut window_base = 0;
    for file in files {
        let n = file.scores.len();
        for i in probation(n)..n {
            let inside = file.windows.iter().position(|&(l, r)| (l..=r).contains(&i));
            let weight = match inside {
                Some(w) => {
                    let (l, r) = file.windows[w];
                    let width = (r - l + 1) as f64;
                    let p = -((r - i + 1) as f64) / width;
                    profile.tp_weight * scaled(p) / max_tp
                }
                None => match file
                    .windows
                    .iter()
                    .filter(|&&(_, r)| r < i)
                    .max_by_key(|&&(_, r)| r)
                {
                    None => -profile.fp_weight,
                    Some(&(l, r)) => {
                        let width = (r - l + 1) as f64;
                        let p = (i - r) as f64 / (width - 1.0);
                        profile.fp_weight * scaled(p)
                    }
                },
            };
            rows.push(Row {
                score: file.scores[i],
                weight,
                window: inside.map(|w| window_base + w),
            });
        }
        window_base += file.windows.len();
    }
    (rows, window_base)
}

/// The score at threshold `threshold` (rows with score ≥ threshold are detections).
pub fn score_at(files: &[ScoredFile], profile: &Profile, threshold: f64) -> NabScore {
    let (rows, n_windows) = rows_of(files, profile);
    let mut best: HashMap<usize, f64> = HashMap::new();
    let mut fp_sum = 0.0;
    let (mut tp_rows, mut fp_rows, mut fn_rows, mut tn_rows) = (0, 0, 0, 0);
    for row in &rows {
        let detected = row.score >= threshold;
        match (row.window, detected) {
            (Some(w), true) => {
                tp_rows += 1;
                let b = best.entry(w).or_insert(f64::NEG_INFINITY);
                *b = b.max(row.weight);
            }
            (Some(_), false) => fn_rows += 1,
            (None, true) => {
                fp_rows += 1;
                fp_sum += row.weight;
            }
            (None, false) => tn_rows += 1,
        }
    }
    let detected_windows = best.len();
    let raw = best.values().sum::<f64>()
        - profile.fn_weight * (n_windows - detected_windows) as f64
        + fp_sum;
    NabScore {
        raw,
        threshold,
        normalized: normalize(raw, n_windows, profile),
        windows_detected: detected_windows,
        windows_missed: n_windows - detected_windows,
        tp_rows,
        fp_rows,
        fn_rows,
        tn_rows,
    }
}

/// The best score over every candidate threshold (1.1, meaning never, and each distinct score
/// of a scorable row), keeping the highest threshold on a tie.
pub fn optimized(files: &[ScoredFile], profile: &Profile) -> NabScore {
    let (mut rows, n_windows) = rows_of(files, profile);
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut best_w: HashMap<usize, f64> = HashMap::new();
    let mut total = -profile.fn_weight * n_windows as f64;
    let mut best = (total, 1.1);
    let mut i = 0;
    while i < rows.len() {
        let value = rows[i].score;
        while i < rows.len() && rows[i].score == value {
            let row = &rows[i];
            match row.window {
                Some(w) => match best_w.get(&w) {
                    None => {
                        total += row.weight + profile.fn_weight;
                        best_w.insert(w, row.weight);
                    }
                    Some(&old) if row.weight > old => {
                        total += row.weight - old;
                        best_w.insert(w, row.weight);
                    }
                    Some(_) => {}
                },
                None => total += row.weight,
            }
            i += 1;
        }
        if total > best.0 && !value.is_nan() {
            best = (total, value);
        }
    }
    score_at(files, profile, best.1)
}

fn normalize(raw: f64, n_windows: usize, profile: &Profile) -> f64 {
    let perfect = profile.tp_weight * n_windows as f64;
    let null = -profile.fn_weight * n_windows as f64;
    if perfect == null {
        0.0
    } else {
        100.0 * (raw - null) / (perfect - null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_row_of_a_window_is_worth_a_full_true_positive() {
        // 100 rows: probation 15; one window at 50..=59.
        let mut scores = vec![0.0; 100];
        scores[50] = 1.0;
        let file = ScoredFile {
            scores,
            windows: vec![(50, 59)],
        };
        let s = score_at(std::slice::from_ref(&file), &PROFILES[0], 0.5);
        assert!((s.raw - 1.0).abs() < 1e-12);
        assert_eq!(s.normalized, 100.0);
        assert_eq!((s.tp_rows, s.fp_rows), (1, 0));
        let never = score_at(std::slice::from_ref(&file), &PROFILES[0], 1.1);
        assert_eq!(never.normalized, 0.0);
        let opt = optimized(&[file], &PROFILES[0]);
        assert_eq!(opt.threshold, 1.0);
    }

    #[test]
    fn detections_before_any_window_cost_the_full_false_positive_weight() {
        let mut scores = vec![0.0; 100];
        scores[20] = 1.0;
        scores[21] = 1.0;
        let file = ScoredFile {
            scores,
            windows: vec![(50, 59)],
        };
        let s = score_at(&[file], &PROFILES[0], 0.5);
        assert!((s.raw - (-1.0 - 0.22)).abs() < 1e-12, "{}", s.raw);
    }
}
