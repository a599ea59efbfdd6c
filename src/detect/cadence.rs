//! Missing and late data: a metric's usual arrival interval, learned from its timestamps, and
//! when its silence has lasted long enough to call it stale.

/// Newest timestamps a metric's usual interval is learned from.
pub const CADENCE_N: usize = 20;

/// The usual interval (seconds) between timestamps given oldest first: the median of the
/// positive gaps between the newest `CADENCE_N`. None with fewer than two gaps, so a metric
/// is not judged before it has a rhythm.
pub fn usual_interval(timestamps: &[i64]) -> Option<i64> {
    let recent = &timestamps[timestamps.len().saturating_sub(CADENCE_N)..];
    let mut gaps: Vec<i64> = recent
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if gaps.len() < 2 {
        return None;
    }
    gaps.sort_unstable();
    // The lower median: a metric that alternates between two cadences is judged by the
    // faster one only if it is the majority.
    Some(gaps[(gaps.len() - 1) / 2])
}

/// Whether nothing since `last` for more than `n` usual intervals makes the metric stale at
/// `now` (n = 0: never).
pub fn overdue(last: i64, interval: i64, now: i64, n: usize) -> bool {
    n > 0 && now - last > interval.saturating_mul(n as i64)
}

/// Whether a batch usually returns rows, from its recent ingest runs' rows written (newest
/// first): at least three runs, and more than half of them with rows.
pub fn usually_returns_rows(recent_rows: &[u64]) -> bool {
    recent_rows.len() >= 3 && recent_rows.iter().filter(|r| **r > 0).count() * 2 > recent_rows.len()
}

/// What a freshness check tells: the metric went stale, came back, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    WentStale,
    CameBack,
}

/// The transition from the last recorded state (`was_stale`) to the state now.
pub fn transition(was_stale: bool, stale_now: bool) -> Option<Transition> {
    match (was_stale, stale_now) {
        (false, true) => Some(Transition::WentStale),
        (true, false) => Some(Transition::CameBack),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_interval_is_the_median_gap_and_ignores_repeats_and_one_gap() {
        assert_eq!(usual_interval(&[0, 300, 600, 900, 1500]), Some(300));
        assert_eq!(usual_interval(&[0, 300, 300, 600]), Some(300));
        assert_eq!(usual_interval(&[0, 300]), None);
        assert_eq!(usual_interval(&[]), None);
        // An hourly metric with one missed hour is still hourly.
        assert_eq!(usual_interval(&[0, 3600, 7200, 14400, 18000]), Some(3600));
        // Only the newest CADENCE_N count: a metric that moved from daily to hourly.
        let mut ts: Vec<i64> = (0..30).map(|i| i * 86_400).collect();
        let last = ts[29];
        ts.extend((1..=25).map(|i| last + i * 3600));
        assert_eq!(usual_interval(&ts), Some(3600));
    }

    #[test]
    fn stale_after_n_intervals_strictly() {
        assert!(!overdue(0, 300, 900, 3));
        assert!(overdue(0, 300, 901, 3));
        assert!(!overdue(0, 300, 1_000_000, 0));
    }

    #[test]
    fn a_batch_usually_returns_rows_when_most_recent_runs_did() {
        assert!(usually_returns_rows(&[5, 5, 0, 5]));
        assert!(!usually_returns_rows(&[5, 5]));
        assert!(!usually_returns_rows(&[0, 0, 5]));
    }

    #[test]
    fn transitions_are_told_once() {
        assert_eq!(transition(false, true), Some(Transition::WentStale));
        assert_eq!(transition(true, true), None);
        assert_eq!(transition(true, false), Some(Transition::CameBack));
        assert_eq!(transition(false, false), None);
    }
}
