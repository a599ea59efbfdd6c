//! What people's 👍/👎 on a metric's alerts teach its alert rule, as a pure function.
//!
//! Scores do not tell a false alarm from a true one (on NAB, true and false alerts have the
//! same spread of smoothed scores), but how far a point is beyond normal does better: a
//! point's *level* is its raw outlier score over the model's median training score
//! (`TrainedModel::level`, combined over models like the scores), which does not saturate the
//! way a probability does.
//!
//! - 👎 ("not useful") on an anomaly at level L mutes the metric's ML alerts at levels up to
//!   L × (1 + margin): a point like the rejected one does not alert again. The mute decays
//!   with the points that arrive after the verdict (halving every `half_life_n`), so a metric
//!   is never silenced for good by one click.
//! - 👍 ("useful") at level L keeps points at L / (1 + margin) and above alerting, whatever a
//!   👎 muted: similar scores keep alerting.
//!
//! Verdicts are placed by the position, in the metric's points, of the point they were given
//! on (fractional when derived from time): only verdicts before a point can affect it.

use super::cadence::usual_interval;

/// How verdicts move a metric's alerting (`feedback_margin`, `feedback_half_life_n`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedbackRule {
    /// How much above a rejected level is still muted, as a share of it.
    pub margin: f64,
    /// Points after which a mute has halved; 0 turns feedback off for alerting.
    pub half_life_n: f64,
}

impl Default for FeedbackRule {
    fn default() -> Self {
        Self {
            margin: 0.5,
            half_life_n: 1000.0,
        }
    }
}

/// One person's verdict on one alert of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Position of the point it was given on, in the metric's points.
    pub at: f64,
    pub useful: bool,
    /// The point's level; verdicts on points without one teach the rule nothing.
    pub level: Option<f64>,
}

impl FeedbackRule {
    pub fn enabled(&self) -> bool {
        self.half_life_n > 0.0
    }

    /// The level at or below which a point at position `at` is muted by the 👎 verdicts before
    /// it, if any.
    pub fn mute_level(&self, verdicts: &[Verdict], at: f64) -> Option<f64> {
        if !self.enabled() {
            return None;
        }
        verdicts
            .iter()
            .filter(|v| !v.useful && v.at < at)
            .filter_map(|v| {
                let level = v.level.filter(|l| l.is_finite() && *l > 0.0)?;
                let age = at - v.at;
                Some(level * (1.0 + self.margin) * 0.5f64.powf(age / self.half_life_n))
            })
            .reduce(f64::max)
    }

    /// Whether a point at position `at` and `level` may not alert: at or below the mute
    /// level, and below every confirmed level (less the margin) before it.
    pub fn muted(&self, verdicts: &[Verdict], at: f64, level: Option<f64>) -> bool {
        let (Some(level), Some(mute)) = (level, self.mute_level(verdicts, at)) else {
            return false;
        };
        let confirmed = verdicts
            .iter()
            .filter(|v| v.useful && v.at < at)
            .filter_map(|v| v.level)
            .any(|l| level >= l / (1.0 + self.margin));
        level <= mute && !confirmed
    }
}

/// What a metric's verdicts teach it at a position, for its page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lesson {
    pub not_useful: usize,
    pub useful: usize,
    /// ML alerts at or below this level are muted (unless a 👍 keeps them).
    pub muted_up_to: Option<f64>,
}

impl FeedbackRule {
    pub fn lesson(&self, verdicts: &[Verdict], at: f64) -> Lesson {
        Lesson {
            not_useful: verdicts.iter().filter(|v| !v.useful).count(),
            useful: verdicts.iter().filter(|v| v.useful).count(),
            muted_up_to: self.mute_level(verdicts, at),
        }
    }
}

/// Verdicts given as (unix seconds of the point, useful, level) placed among a metric's
/// points at `times` (oldest first), spaced by the metric's usual interval.
pub fn placed(
    given: impl IntoIterator<Item = (i64, bool, Option<f64>)>,
    times: &[i64],
) -> Vec<Verdict> {
    let interval = usual_interval(times);
    given
        .into_iter()
        .map(|(at, useful, level)| Verdict {
            at: place(at, times, interval),
            useful,
            level,
        })
        .collect()
}

/// The training rows to keep once confirmed anomalies (👍, at `confirmed`, unix seconds) are
/// left out. Rows are consecutive and each holds its point and the `warmup` before it, so the
/// row at or just before a confirmed point (its bucket, when resampled) and the `warmup` rows
/// after it go; a point older than every row is left alone. A confirmed anomaly is not
/// normal; trained on, it would teach the model to expect the next one.
pub fn rows_to_keep(row_times: &[i64], confirmed: &[i64], warmup: usize) -> Vec<usize> {
    let mut drop = vec![false; row_times.len()];
    for &c in confirmed {
        let Some(first) = row_times.partition_point(|&t| t <= c).checked_sub(1) else {
            continue;
        };
        let last = first.saturating_add(warmup).min(row_times.len() - 1);
        drop[first..=last].fill(true);
    }
    (0..row_times.len()).filter(|&r| !drop[r]).collect()
}

/// The position, among a metric's points at `times` (unix seconds, ascending), of a verdict
/// given on the point at `at`: its index when it is one of them; counted back in `interval`s
/// from the first when older (the alert job sees only its newest points); halfway between
/// two points otherwise.
pub fn place(at: i64, times: &[i64], interval: Option<i64>) -> f64 {
    match times.binary_search(&at) {
        Ok(i) => i as f64,
        Err(0) => match (times.first(), interval.filter(|i| *i > 0)) {
            (Some(first), Some(interval)) => -((first - at) as f64) / interval as f64,
            _ => -1.0,
        },
        Err(i) => i as f64 - 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_holding_a_confirmed_point_are_left_out_of_training() {
        let rows: Vec<i64> = (0..20).map(|i| i * 60).collect();
        // Rows hold their point and the 3 before: a point at 300 s is in rows 5 to 8.
        let kept = rows_to_keep(&rows, &[300], 3);
        assert_eq!(kept.len(), 16);
        assert!(kept.iter().all(|r| !(5..=8).contains(r)), "{kept:?}");
        assert_eq!(rows_to_keep(&rows, &[], 3).len(), 20);
        // Between rows: the row before holds it when resampled (its bucket).
        let between: Vec<usize> = (0..20).filter(|&r| r != 5).collect();
        assert_eq!(rows_to_keep(&rows, &[330], 0), between);
        // A gap in time does not matter: rows are counted, not seconds.
        let gappy = [0, 60, 120, 10_000, 10_060, 10_120];
        assert_eq!(rows_to_keep(&gappy, &[60], 2), vec![0, 4, 5]);
        assert_eq!(
            rows_to_keep(&gappy, &[-5], 2).len(),
            6,
            "older than every row"
        );
    }

    #[test]
    fn verdicts_are_placed_among_the_points() {
        let times = [1000, 1300, 1600];
        assert_eq!(place(1300, &times, Some(300)), 1.0);
        assert_eq!(place(1400, &times, Some(300)), 1.5);
        assert_eq!(place(400, &times, Some(300)), -2.0);
        assert_eq!(place(400, &times, None), -1.0);
        assert_eq!(place(2000, &times, Some(300)), 2.5);
    }

    fn down(at: f64, level: f64) -> Verdict {
        Verdict {
            at,
            useful: false,
            level: Some(level),
        }
    }

    #[test]
    fn a_rejected_level_mutes_points_like_it_and_not_bigger_ones() {
        let rule = FeedbackRule {
            margin: 0.5,
            half_life_n: 100.0,
        };
        let v = [down(10.0, 2.0)];
        assert!(rule.muted(&v, 11.0, Some(2.0)));
        assert!(rule.muted(&v, 11.0, Some(2.9)), "within the margin");
        assert!(!rule.muted(&v, 11.0, Some(3.1)), "beyond it");
        assert!(!rule.muted(&v, 9.0, Some(1.0)), "only later points");
        assert!(!rule.muted(&v, 11.0, None), "no level, no mute");
    }

    #[test]
    fn a_mute_halves_every_half_life() {
        let rule = FeedbackRule {
            margin: 0.0,
            half_life_n: 100.0,
        };
        let v = [down(0.0, 4.0)];
        assert_eq!(rule.mute_level(&v, 100.0), Some(2.0));
        assert_eq!(rule.mute_level(&v, 200.0), Some(1.0));
        assert!(rule.muted(&v, 200.0, Some(1.0)));
        assert!(!rule.muted(&v, 200.0, Some(1.1)));
        let off = FeedbackRule {
            half_life_n: 0.0,
            ..rule
        };
        assert_eq!(off.mute_level(&v, 1.0), None);
    }

    #[test]
    fn a_confirmed_level_keeps_alerting() {
        let rule = FeedbackRule {
            margin: 0.5,
            half_life_n: 1000.0,
        };
        let confirmed = Verdict {
            at: 20.0,
            useful: true,
            level: Some(3.0),
        };
        let v = [down(10.0, 4.0), confirmed];
        assert!(!rule.muted(&v, 30.0, Some(2.5)), "like the confirmed one");
        assert!(rule.muted(&v, 30.0, Some(1.5)), "well below it");
        assert!(
            rule.muted(&v, 15.0, Some(2.5)),
            "before the 👍 it was muted"
        );
    }
}
