//! Decision rules of the alert jobs, as pure functions of plain values so they are tested
//! without a database and shared by the jobs and the backtest.
//!
//! The anomaly-alert rule is the original's intent (its SQL smoothed towards newer points and
//! never snoozed the newest one): a point's smoothed score is the mean of its score and the
//! scores just before it, `smooth_n` in all; one of the newest `recent_n` points alerts when
//! its smoothed score reaches the threshold and no alert exists within the `snooze_n` points
//! before it, nor on the point itself.
//!
//! Two additions of anomstack-rs:
//! - an *extreme* point (its raw score beyond everything the model saw in training, by the
//!   batch's `alert_extreme_margin`; decided by the score job) fires on its own score, without
//!   waiting for smoothing, so a 500× jump alerts in the run that scores it;
//! - a point fires only if the metric *moved* in the allowed direction by at least the noise
//!   floor (`alert_direction`, `alert_min_abs_change`, `alert_min_rel_change`). The move is the
//!   largest departure, among the point and the `MOVE_N - 1` points before it, of a value from
//!   its expected value (the median of the `BASELINE_N` values before that value). Looking
//!   back matters: window detectors keep scoring high for a few points after a spike (the
//!   spike is still in their window), and those points must be judged by the spike, not by
//!   their own ordinary values.

use serde::{Deserialize, Serialize};

use super::{median, smoothed_scores};

/// Values before a point whose median is its expected value.
pub const BASELINE_N: usize = 24;
/// Points, the newest included, among which a metric's move is looked for.
pub const MOVE_N: usize = 12;

/// Which moves of a metric may alert (`alert_direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
    #[default]
    Both,
}

/// When a metric's scores make an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRule {
    /// Scores averaged into the smoothed score, the newest included; 0 or 1 means no smoothing.
    pub smooth_n: usize,
    pub threshold: f64,
    /// Only the newest this-many points may alert.
    pub recent_n: usize,
    /// Points after an alert during which the metric does not alert again.
    pub snooze_n: usize,
    /// Re-arming: after an alert, the metric alerts again only once it has been back to
    /// normal (smoothed score under the threshold) for this many points in a row; 0: at once
    /// after the snooze.
    pub resolve_n: usize,
    /// Alert on the newest point whatever its score (for testing channels).
    pub always: bool,
    /// Moves that may alert, compared with the expected value.
    pub direction: Direction,
    /// The value must differ from the expected value by at least this much...
    pub min_abs_change: f64,
    /// ...and by at least this share of the expected value's magnitude.
    pub min_rel_change: f64,
}

impl Default for AlertRule {
    fn default() -> Self {
        Self {
            smooth_n: 1,
            threshold: 0.8,
            recent_n: 1,
            snooze_n: 0,
            resolve_n: 0,
            always: false,
            direction: Direction::Both,
            min_abs_change: 0.0,
            min_rel_change: 0.0,
        }
    }
}

/// One scored point as the alert rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertPoint {
    pub score: f64,
    /// The metric's value at the point (NaN when unknown: the move checks then pass).
    pub value: f64,
    /// Its raw score was beyond the model's training maximum by the extreme margin.
    pub extreme: bool,
    /// People's verdicts on earlier alerts of the metric say a point like it is not worth an
    /// alert (`feedback::FeedbackRule::muted`).
    pub muted: bool,
}

impl AlertPoint {
    pub fn scored(score: f64) -> Self {
        Self {
            score,
            value: f64::NAN,
            extreme: false,
            muted: false,
        }
    }
}

/// The expected value at point `i`: the median of the up to `BASELINE_N` known values before
/// it; none for the first point.
pub fn expected_value(values: &[f64], i: usize) -> Option<f64> {
    let before: Vec<f64> = values[i.saturating_sub(BASELINE_N)..i.min(values.len())]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let m = median(&before);
    m.is_finite().then_some(m)
}

/// A metric's move at point `i`: of the newest `MOVE_N` values up to it, the one furthest from
/// its expected value, as (value, expected). None when no value has an expectation.
pub fn largest_move(values: &[f64], i: usize) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    (i.saturating_sub(MOVE_N - 1)..=i.min(values.len() - 1))
        .filter(|&j| values[j].is_finite())
        .filter_map(|j| expected_value(values, j).map(|e| (values[j], e)))
        .max_by(|a, b| (a.0 - a.1).abs().total_cmp(&(b.0 - b.1).abs()))
}

impl AlertRule {
    /// Whether the move (value, expected) goes the allowed way by at least the noise floor.
    /// No move known (no values or too few) passes: the score alone decides.
    pub fn moved_enough(&self, moved: Option<(f64, f64)>) -> bool {
        let Some((value, expected)) = moved else {
            return true;
        };
        let change = value - expected;
        let direction_ok = match self.direction {
            Direction::Up => change > 0.0,
            Direction::Down => change < 0.0,
            Direction::Both => true,
        };
        direction_ok
            && change.abs() >= self.min_abs_change
            && change.abs() >= self.min_rel_change * expected.abs()
    }

    /// Which points fire before snoozing: a smoothed score at the threshold, or an extreme
    /// point at the threshold on its own score; either way only if the value moved enough
    /// and feedback has not muted the point.
    pub fn fires(&self, points: &[AlertPoint], smoothed: &[f64]) -> Vec<bool> {
        let values: Vec<f64> = points.iter().map(|p| p.value).collect();
        (0..points.len())
            .map(|i| {
                let high = smoothed[i] >= self.threshold
                    || (points[i].extreme && points[i].score >= self.threshold);
                high && !points[i].muted && self.moved_enough(largest_move(&values, i))
            })
            .collect()
    }

    /// The smoothed scores of `points`.
    pub fn smoothed(&self, points: &[AlertPoint]) -> Vec<f64> {
        let scores: Vec<f64> = points.iter().map(|p| p.score).collect();
        smoothed_scores(&scores, self.smooth_n)
    }

    /// Which points were back to normal: smoothed score under the threshold.
    pub fn quiet(&self, smoothed: &[f64]) -> Vec<bool> {
        smoothed.iter().map(|s| *s < self.threshold).collect()
    }
}

/// Whether `quiet` (points after an alert, each saying whether the metric was back to normal)
/// holds `n` quiet points in a row: the metric recovered.
pub fn back_to_normal(quiet: &[bool], n: usize) -> bool {
    let mut run = 0;
    for &q in quiet {
        run = if q { run + 1 } else { 0 };
        if run >= n {
            return true;
        }
    }
    false
}

/// Which of the newest `recent_n` points alert. `points` are one metric's scored points in
/// time order and `alerted[i]` says whether point i already has an alert row. Alerts decided
/// here snooze later points as well. Returns indices into `points`, oldest first.
pub fn alert_decisions(rule: &AlertRule, points: &[AlertPoint], alerted: &[bool]) -> Vec<usize> {
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    if rule.always {
        // Forced: the newest point, whatever its score or history.
        return if alerted.get(n - 1).copied().unwrap_or(false) {
            Vec::new()
        } else {
            vec![n - 1]
        };
    }
    let smoothed = rule.smoothed(points);
    let quiet = rule.quiet(&smoothed);
    snoozed_decisions(
        &rule.fires(points, &smoothed),
        alerted,
        rule.recent_n,
        rule.snooze_n,
        (rule.resolve_n > 0).then_some(Rearm {
            quiet: &quiet,
            n: rule.resolve_n,
        }),
    )
}

/// Re-arming after an alert: `quiet[i]` says whether point i was back to normal; a metric
/// that alerted fires again only after `n` quiet points in a row.
pub struct Rearm<'a> {
    pub quiet: &'a [bool],
    pub n: usize,
}

/// The snooze shared by every alert kind: of the newest `recent_n` points that fire, those
/// without an alert on themselves or within the `snooze_n` points before (alerts decided here
/// included), and, with `rearm`, back to normal since the last alert among `fires`' points.
/// Indices oldest first.
pub fn snoozed_decisions(
    fires: &[bool],
    alerted: &[bool],
    recent_n: usize,
    snooze_n: usize,
    rearm: Option<Rearm>,
) -> Vec<usize> {
    let n = fires.len();
    let mut has_alert: Vec<bool> = (0..n)
        .map(|i| alerted.get(i).copied().unwrap_or(false))
        .collect();
    let mut out = Vec::new();
    for i in n.saturating_sub(recent_n.max(1))..n {
        if !fires[i] || has_alert[i] {
            continue;
        }
        if (i.saturating_sub(snooze_n)..i).any(|j| has_alert[j]) {
            continue;
        }
        if let Some(Rearm { quiet, n }) = &rearm
            && let Some(last) = has_alert[..i].iter().rposition(|a| *a)
            && !back_to_normal(&quiet[last + 1..i], *n)
        {
            continue;
        }
        has_alert[i] = true;
        out.push(i);
    }
    out
}

/// Where a metric could not alert after each of its alerts (`alerted`, with the smoothed
/// scores of the same points): from the alert to the first point that could fire again
/// (past the snooze and, with re-arming, after `resolve_n` points back to normal), as
/// indices; `None` for the end while the metric is still waiting. What the chart shades.
pub fn disarmed_spans(
    rule: &AlertRule,
    smoothed: &[f64],
    alerted: &[bool],
) -> Vec<(usize, Option<usize>)> {
    let quiet = rule.quiet(smoothed);
    let alerts: Vec<usize> = (0..alerted.len().min(smoothed.len()))
        .filter(|&i| alerted[i])
        .collect();
    alerts
        .iter()
        .map(|&i| {
            // Walk on from the alert, counting the quiet run among the points before `k`.
            let (mut run, mut recovered) = (0, rule.resolve_n == 0);
            let armed = (i + 1..smoothed.len()).find(|&k| {
                if k > i + 1 {
                    run = if quiet[k - 1] { run + 1 } else { 0 };
                    recovered |= run >= rule.resolve_n;
                }
                k - i > rule.snooze_n && recovered
            });
            (i, armed)
        })
        .collect()
}

/// Which bound a value breaches, upper checked first, and the bound's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Breach {
    Upper(f64),
    Lower(f64),
}

impl Breach {
    pub fn kind(&self) -> &'static str {
        match self {
            Breach::Upper(_) => "upper",
            Breach::Lower(_) => "lower",
        }
    }

    pub fn bound(&self) -> f64 {
        match self {
            Breach::Upper(b) | Breach::Lower(b) => *b,
        }
    }
}

/// Whether `value` is above `upper` or below `lower` (strictly, as the original).
pub fn threshold_breach(value: f64, upper: Option<f64>, lower: Option<f64>) -> Option<Breach> {
    match (upper, lower) {
        (Some(u), _) if value > u => Some(Breach::Upper(u)),
        (_, Some(l)) if value < l => Some(Breach::Lower(l)),
        _ => None,
    }
}

/// Change detection: the newest `detect_last_n` values whose MAD modified z-score against the
/// older values exceeds `threshold`, unless the metric already has a change flag among its
/// newest `snooze_n` points. Returns (index, z-score), oldest first.
pub fn change_decisions(
    values: &[f64],
    flagged: &[bool],
    detect_last_n: usize,
    snooze_n: usize,
    threshold: f64,
) -> Vec<(usize, f64)> {
    let n = values.len();
    let last = detect_last_n.max(1);
    // A reference window of a few points at least, or the median means little.
    if n < last.saturating_add(3) {
        return Vec::new();
    }
    if flagged[n.saturating_sub(snooze_n)..].iter().any(|f| *f) {
        return Vec::new();
    }
    let Ok(model) = crate::detect::MadModel::fit_values(&values[..n - last], threshold) else {
        return Vec::new();
    };
    (n - last..n)
        .map(|i| (i, model.score_value(values[i])))
        .filter(|(i, z)| *z > threshold && !flagged[*i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> AlertRule {
        AlertRule {
            smooth_n: 3,
            threshold: 0.8,
            snooze_n: 3,
            ..AlertRule::default()
        }
    }

    #[test]
    fn the_disarmed_span_runs_from_an_alert_past_the_snooze_and_the_recovery() {
        let snooze_only = AlertRule {
            threshold: 0.8,
            snooze_n: 2,
            ..AlertRule::default()
        };
        let smoothed = [0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1];
        let alerted = [false, true, false, false, false, false, false, false];
        assert_eq!(
            disarmed_spans(&snooze_only, &smoothed, &alerted),
            vec![(1, Some(4))],
            "two points snoozed, then armed though still high"
        );
        let rearming = AlertRule {
            resolve_n: 2,
            ..snooze_only
        };
        assert_eq!(
            disarmed_spans(&rearming, &smoothed, &alerted),
            vec![(1, Some(7))],
            "armed after two points back under the threshold"
        );
        assert_eq!(
            disarmed_spans(&rearming, &smoothed[..6], &alerted[..6]),
            vec![(1, None)],
            "still waiting at the end"
        );
        // Agrees with the decisions: a point inside a span never alerts, the first after may.
        let points: Vec<AlertPoint> = smoothed.iter().map(|s| AlertPoint::scored(*s)).collect();
        let again = [0.1, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9];
        let points_again: Vec<AlertPoint> = again.iter().map(|s| AlertPoint::scored(*s)).collect();
        let recent = AlertRule {
            recent_n: 8,
            ..rearming
        };
        assert_eq!(alert_decisions(&recent, &points, &[]), vec![1]);
        assert_eq!(alert_decisions(&recent, &points_again, &[]), vec![1, 5]);
        assert_eq!(
            disarmed_spans(
                &recent,
                &again,
                &[false, true, false, false, false, false, false, false]
            ),
            vec![(1, Some(5))]
        );
    }

    fn scored(scores: &[f64]) -> Vec<AlertPoint> {
        scores.iter().map(|s| AlertPoint::scored(*s)).collect()
    }

    #[test]
    fn a_metric_alerts_again_only_once_back_to_normal() {
        let scores = scored(&[0.9, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9]);
        let r = |resolve_n| AlertRule {
            threshold: 0.8,
            recent_n: 7,
            resolve_n,
            ..AlertRule::default()
        };
        let none = [false; 7];
        assert_eq!(
            alert_decisions(&r(0), &scores, &none),
            vec![0, 1, 2, 5, 6],
            "no re-arming"
        );
        assert_eq!(
            alert_decisions(&r(2), &scores, &none),
            vec![0, 5],
            "two quiet points re-arm"
        );
        assert_eq!(
            alert_decisions(&r(3), &scores, &none),
            vec![0],
            "two are not three"
        );
        // An alert stored earlier counts as much as one decided now.
        let mut stored = none;
        stored[1] = true;
        assert_eq!(alert_decisions(&r(2), &scores, &stored), vec![0, 5]);
        // Quiet points must be in a row.
        let broken = scored(&[0.9, 0.1, 0.9, 0.1, 0.9]);
        assert_eq!(
            alert_decisions(
                &AlertRule {
                    recent_n: 5,
                    ..r(2)
                },
                &broken,
                &[false; 5]
            ),
            vec![0]
        );
        assert!(
            back_to_normal(&[false, true, true], 2) && !back_to_normal(&[true, false, true], 2)
        );
    }

    #[test]
    fn smoothing_looks_back_not_forward() {
        let s = smoothed_scores(&[0.0, 0.0, 0.3, 0.6, 0.9], 3);
        assert_eq!(s[4], 0.6);
        assert_eq!(s[0], 0.0);
        assert_eq!(
            smoothed_scores(&[1.0, f64::NAN, 3.0], 2),
            vec![1.0, 1.0, 3.0]
        );
    }

    #[test]
    fn the_newest_point_is_smoothed_before_the_threshold() {
        // A single high score among low ones does not alert (the original's quirk alerted).
        assert!(alert_decisions(&rule(), &scored(&[0.1, 0.1, 0.1, 0.95]), &[false; 4]).is_empty());
        // Three high scores in a row do.
        assert_eq!(
            alert_decisions(&rule(), &scored(&[0.1, 0.9, 0.9, 0.9]), &[false; 4]),
            vec![3]
        );
    }

    #[test]
    fn an_alert_snoozes_the_next_periods_and_its_own_timestamp() {
        let scores = [0.9; 6];
        // An alert two points ago snoozes the newest point.
        let mut alerted = [false; 6];
        alerted[3] = true;
        assert!(alert_decisions(&rule(), &scored(&scores), &alerted).is_empty());
        // Four points ago it no longer does.
        let mut alerted = [false; 6];
        alerted[1] = true;
        assert_eq!(
            alert_decisions(&rule(), &scored(&scores), &alerted),
            vec![5]
        );
        // The same point never alerts twice.
        let mut alerted = [false; 6];
        alerted[5] = true;
        assert!(alert_decisions(&rule(), &scored(&scores), &alerted).is_empty());
    }

    #[test]
    fn recent_points_snooze_each_other() {
        let r = AlertRule {
            recent_n: 5,
            smooth_n: 1,
            ..rule()
        };
        assert_eq!(
            alert_decisions(&r, &scored(&[0.9; 5]), &[false; 5]),
            vec![0, 4]
        );
    }

    #[test]
    fn thresholds_check_upper_first_and_are_strict() {
        assert_eq!(
            threshold_breach(12.5, Some(12.0), Some(0.0)),
            Some(Breach::Upper(12.0))
        );
        assert_eq!(
            threshold_breach(-1.0, Some(12.0), Some(0.0)),
            Some(Breach::Lower(0.0))
        );
        assert_eq!(threshold_breach(12.0, Some(12.0), Some(0.0)), None);
        assert_eq!(threshold_breach(5.0, None, None), None);
    }

    #[test]
    fn a_level_shift_is_a_change_and_then_snoozed() {
        let mut values = vec![10.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.3];
        values.push(50.0);
        let flagged = vec![false; values.len()];
        let found = change_decisions(&values, &flagged, 1, 3, 3.5);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 8);
        assert!(found[0].1 > 3.5);
        // With a change flag among the newest points the metric is snoozed.
        let mut flagged = flagged;
        flagged[7] = true;
        assert!(change_decisions(&values, &flagged, 1, 3, 3.5).is_empty());
        // Calm values do not change.
        assert!(change_decisions(&values[..8], &[false; 8], 1, 3, 3.5).is_empty());
    }

    #[test]
    fn alert_always_forces_the_newest_point() {
        let r = AlertRule {
            always: true,
            ..rule()
        };
        assert_eq!(
            alert_decisions(&r, &scored(&[0.0, 0.0]), &[false; 2]),
            vec![1]
        );
    }

    #[test]
    fn an_extreme_point_fires_on_its_own_score() {
        let mut points = scored(&[0.1, 0.1, 0.1, 1.0]);
        // Smoothed over three points, 0.4: not enough.
        assert!(alert_decisions(&rule(), &points, &[false; 4]).is_empty());
        points[3].extreme = true;
        assert_eq!(alert_decisions(&rule(), &points, &[false; 4]), vec![3]);
        // Extreme but scored below the threshold (another model disagrees): no.
        points[3].score = 0.5;
        assert!(alert_decisions(&rule(), &points, &[false; 4]).is_empty());
    }

    #[test]
    fn a_muted_point_does_not_fire_nor_snooze_the_next() {
        let mut points = scored(&[0.1, 1.0, 1.0, 1.0, 1.0]);
        points[1].muted = true;
        points[2].muted = true;
        points[3].extreme = true;
        points[3].muted = true;
        let r = AlertRule {
            smooth_n: 1,
            recent_n: 5,
            snooze_n: 3,
            ..rule()
        };
        // Muted, even extreme; the first unmuted point fires, unsnoozed by the muted ones.
        assert_eq!(alert_decisions(&r, &points, &[false; 5]), vec![4]);
    }

    #[test]
    fn moves_against_the_direction_or_under_the_floor_do_not_alert() {
        let values = [10.0, 11.0, 10.0, 12.0, 10.0];
        let points = |last: f64| -> Vec<AlertPoint> {
            values
                .iter()
                .chain([last].iter())
                .map(|v| AlertPoint {
                    score: 1.0,
                    value: *v,
                    extreme: false,
                    muted: false,
                })
                .collect()
        };
        let r = |direction, min_abs_change, min_rel_change| AlertRule {
            smooth_n: 1,
            recent_n: 1,
            direction,
            min_abs_change,
            min_rel_change,
            ..AlertRule::default()
        };
        // Expected value: the median of the values before, 10.
        assert_eq!(
            expected_value(&[10.0, 11.0, 10.0, 12.0, 10.0, 3.0], 5),
            Some(10.0)
        );
        assert_eq!(expected_value(&[3.0], 0), None);
        let alerts = |rule: AlertRule, last| alert_decisions(&rule, &points(last), &[false; 6]);
        assert_eq!(alerts(r(Direction::Up, 0.0, 0.0), 20.0), vec![5]);
        assert!(alerts(r(Direction::Up, 0.0, 0.0), 2.0).is_empty());
        assert_eq!(alerts(r(Direction::Down, 0.0, 0.0), 2.0), vec![5]);
        assert!(alerts(r(Direction::Down, 0.0, 0.0), 20.0).is_empty());
        assert_eq!(alerts(r(Direction::Both, 0.0, 0.0), 2.0), vec![5]);
        // A floor of 5 in absolute terms: 14 is 4 away, 16 is 6 away.
        assert!(alerts(r(Direction::Both, 5.0, 0.0), 14.0).is_empty());
        assert_eq!(alerts(r(Direction::Both, 5.0, 0.0), 16.0), vec![5]);
        // A floor of 50 % of the expected value: 14 is 40 % away, 16 is 60 %.
        assert!(alerts(r(Direction::Both, 0.0, 0.5), 14.0).is_empty());
        assert_eq!(alerts(r(Direction::Both, 0.0, 0.5), 16.0), vec![5]);
        // The move is looked for among the newest points: a normal value just after a drop is
        // judged by the drop.
        let after_drop: Vec<AlertPoint> = [10.0, 11.0, 10.0, 12.0, 10.0, 0.0, 10.5]
            .iter()
            .map(|v| AlertPoint {
                score: 1.0,
                value: *v,
                extreme: false,
                muted: false,
            })
            .collect();
        assert_eq!(
            largest_move(&[10.0, 11.0, 10.0, 12.0, 10.0, 0.0, 10.5], 6),
            Some((0.0, 10.0))
        );
        assert!(alert_decisions(&r(Direction::Up, 0.0, 0.0), &after_drop, &[false; 7]).is_empty());
        // The first point has no expectation; the score alone decides.
        assert_eq!(
            alert_decisions(&r(Direction::Up, 100.0, 1.0), &points(0.0)[..1], &[false]),
            vec![0]
        );
    }
}
