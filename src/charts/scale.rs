//! Axis ticks people can read: round values for the value axis, round clock times for the
//! time axis.

use chrono::DateTime;

use super::number;

/// About `count` round values covering `[lo, hi]`, with their labels.
pub fn nice_ticks(lo: f64, hi: f64, count: usize) -> Vec<(f64, String)> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || count == 0 {
        return Vec::new();
    }
    let raw = (hi - lo) / count as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .take(count * 3)
        .map(|i| {
            let v = i as f64 * step;
            // Snap float noise (0.30000000000000004) before labelling.
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, number(v))
        })
        .collect()
}

/// Round tick times for a span of unix seconds.
pub struct TimeAxis {
    t0: i64,
    t1: i64,
    step: i64,
}

/// Tick spacings in seconds, from a minute to a month.
const STEPS: [i64; 14] = [
    60,
    300,
    600,
    900,
    1800,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    30 * 86_400,
];

impl TimeAxis {
    pub fn new(t0: i64, t1: i64, max_ticks: i64) -> Self {
        let span = (t1 - t0).max(1);
        let step = STEPS
            .iter()
            .copied()
            .find(|s| span / s <= max_ticks.max(1))
            .unwrap_or(span / max_ticks.max(1) + 1);
        Self { t0, t1, step }
    }

    /// Tick times and labels: clock times within a day, dates beyond.
    pub fn ticks(&self) -> Vec<(i64, String)> {
        let first = self.t0.div_euclid(self.step) * self.step;
        let first = if first < self.t0 {
            first + self.step
        } else {
            first
        };
        let format = if self.step >= 86_400 {
            "%b %d"
        } else if self.t1 - self.t0 > 86_400 {
            "%d %H:%M"
        } else {
            "%H:%M"
        };
        (0..)
            .map(|i| first + i * self.step)
            .take_while(|t| *t <= self.t1)
            .take(32)
            .filter_map(|t| {
                DateTime::from_timestamp(t, 0).map(|d| (t, d.format(format).to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ticks_are_round() {
        let ticks: Vec<String> = nice_ticks(0.13, 0.97, 4).into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0.25", "0.5", "0.75"]);
        let ticks: Vec<f64> = nice_ticks(-3.0, 1234.0, 4)
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(ticks, [0.0, 500.0, 1000.0]);
        assert!(nice_ticks(1.0, 1.0, 4).is_empty());
        assert!(nice_ticks(f64::NAN, 1.0, 4).is_empty());
    }

    #[test]
    fn time_ticks_fall_on_round_times() {
        // 2026-03-01 00:07 to 04:07: hourly ticks.
        let t0 = 1_772_323_620;
        let axis = TimeAxis::new(t0, t0 + 4 * 3600, 6);
        let labels: Vec<String> = axis.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["01:00", "02:00", "03:00", "04:00"]);
        let week = TimeAxis::new(t0, t0 + 7 * 86_400, 6);
        assert!(week.ticks().iter().all(|(_, l)| l.starts_with("Mar")));
    }
}
