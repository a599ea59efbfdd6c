//! Charts as inline SVG, rendered on the server: a metric's value line with its anomaly score
//! on a 0–100 % secondary axis and markers for every alert kind, and a sparkline for lists.
//! Colours are CSS classes (see `assets/app.css`), so light and dark themes need no
//! re-rendering; every marker carries a `<title>`, which browsers show on hover.

pub mod ascii;
pub mod png;
mod scale;

use chrono::NaiveDateTime;
use maud::{Markup, html};

use crate::store::ChartPoint;
use scale::{TimeAxis, nice_ticks};

/// How the visitor wants charts drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartStyle {
    pub large: bool,
    pub markers: bool,
    pub legend: bool,
    /// Value line width in pixels (the original toggled between 2 and 1).
    pub line_width: u8,
}

impl Default for ChartStyle {
    fn default() -> Self {
        Self {
            large: false,
            markers: true,
            legend: false,
            line_width: 2,
        }
    }
}

const WIDTH: f64 = 640.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;
/// The score axis runs to 105 % so markers at 100 % are not cut off.
const SCORE_TOP: f64 = 1.05;

/// Maps data to the plot area.
struct Frame {
    height: f64,
    t0: i64,
    t1: i64,
    v0: f64,
    v1: f64,
}

impl Frame {
    fn x(&self, ts: NaiveDateTime) -> f64 {
        let t = ts.and_utc().timestamp();
        let span = (self.t1 - self.t0).max(1) as f64;
        LEFT + (t - self.t0) as f64 / span * (WIDTH - LEFT - RIGHT)
    }

    fn y_value(&self, v: f64) -> f64 {
        let span = if self.v1 > self.v0 {
            self.v1 - self.v0
        } else {
            1.0
        };
        TOP + (1.0 - (v - self.v0) / span) * self.plot_height()
    }

    fn y_score(&self, s: f64) -> f64 {
        TOP + (1.0 - s.clamp(0.0, SCORE_TOP) / SCORE_TOP) * self.plot_height()
    }

    fn plot_height(&self) -> f64 {
        self.height - TOP - BOTTOM
    }
}

/// The full chart of one metric. `title` names it for screen readers.
pub fn metric_chart(title: &str, points: &[ChartPoint], style: ChartStyle) -> Markup {
    let height = if style.large { 400.0 } else { 250.0 };
    let Some(frame) = frame(points, height) else {
        return html! {
            div.chart-empty role="note" { "No points in this window." }
        };
    };
    let value_ticks = nice_ticks(frame.v0, frame.v1, if style.large { 6 } else { 4 });
    let time_axis = TimeAxis::new(frame.t0, frame.t1, 6);
    let value_path = line_path(
        points
            .iter()
            .map(|p| p.value.map(|v| (frame.x(p.timestamp), frame.y_value(v)))),
    );
    let score_path = line_path(
        points
            .iter()
            .map(|p| p.score.map(|s| (frame.x(p.timestamp), frame.y_score(s)))),
    );
    let bottom = height - BOTTOM;
    let right = WIDTH - RIGHT;
    let marker_r = f64::from(style.line_width) + 1.5;
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
            preserveAspectRatio="none" aria-label={ "Chart of " (title) } {
            title { (title) ": value and anomaly score" }
            // Axes and grid.
            @for (v, label) in &value_ticks {
                @let y = frame.y_value(*v);
                line.grid x1=(LEFT) x2=(right) y1=(fmt(y)) y2=(fmt(y)) {}
                text.axis x=(LEFT - 6.0) y=(fmt(y + 4.0)) text-anchor="end" { (label) }
            }
            @for pct in [0, 50, 100] {
                @let y = frame.y_score(f64::from(pct) / 100.0);
                text.axis.score-axis x=(right + 6.0) y=(fmt(y + 4.0)) { (pct) "%" }
            }
            @for (t, label) in time_axis.ticks() {
                @let x = LEFT + (t - frame.t0) as f64 / (frame.t1 - frame.t0).max(1) as f64 * (right - LEFT);
                line.tick x1=(fmt(x)) x2=(fmt(x)) y1=(bottom) y2=(bottom + 4.0) {}
                text.axis x=(fmt(x)) y=(bottom + 17.0) text-anchor="middle" { (label) }
            }
            line.frame x1=(LEFT) x2=(right) y1=(bottom) y2=(bottom) {}
            // Score first, so the value line is drawn over it.
            path.score-line d=(score_path) {}
            path.value-line d=(value_path) stroke-width=(style.line_width) {}
            @if style.markers {
                @for p in points {
                    @if let Some(v) = p.value {
                        circle.value-point cx=(fmt(frame.x(p.timestamp))) cy=(fmt(frame.y_value(v))) r=(fmt(marker_r)) {
                            title { (stamp(p.timestamp)) ": " (number(v)) @if let Some(s) = p.score { " (score " (percent(s)) ")" } }
                        }
                    }
                }
            }
            // Alert markers sit on the score axis at 100 %, as in the original.
            @for p in points {
                @let x = fmt(frame.x(p.timestamp));
                @let top = frame.y_score(1.0);
                @if p.alert {
                    circle.marker.alert cx=(x) cy=(fmt(top)) r="5" {
                        title { "Alert at " (stamp(p.timestamp)) @if let Some(v) = p.value { ": " (number(v)) } }
                    }
                }
                @if let Some(why) = &p.llmalert {
                    rect.marker.llmalert x=(fmt(frame.x(p.timestamp) - 4.5)) y=(fmt(top - 4.5)) width="9" height="9" {
                        title { "LLM alert at " (stamp(p.timestamp)) ": " (why) }
                    }
                }
                @if p.change {
                    path.marker.change d=(triangle(frame.x(p.timestamp), top)) {
                        title { "Change at " (stamp(p.timestamp)) }
                    }
                }
                @if let Some(meta) = &p.tholdalert {
                    path.marker.tholdalert d=(diamond(frame.x(p.timestamp), frame.y_score(0.95))) {
                        title { "Threshold alert at " (stamp(p.timestamp)) @if !meta.is_empty() { ": " (threshold_words(meta)) } }
                    }
                }
            }
            @if style.legend {
                g.legend transform={ "translate(" (LEFT + 8.0) "," (TOP + 4.0) ")" } {
                    line.value-line x1="0" x2="16" y1="6" y2="6" stroke-width=(style.line_width) {}
                    text.axis x="20" y="10" { "value" }
                    line.score-line x1="64" x2="80" y1="6" y2="6" {}
                    text.axis x="84" y="10" { "score" }
                    circle.marker.alert cx="132" cy="6" r="4" {}
                    text.axis x="139" y="10" { "alert" }
                    rect.marker.llmalert x="172" y="2" width="8" height="8" {}
                    text.axis x="184" y="10" { "LLM" }
                    path.marker.change d=(triangle(216.0, 6.0)) {}
                    text.axis x="224" y="10" { "change" }
                    path.marker.tholdalert d=(diamond(270.0, 6.0)) {}
                    text.axis x="278" y="10" { "threshold" }
                }
            }
        }
    }
}

/// A 200×50 sparkline of the values with the score dotted behind, and the point at
/// `highlight` marked.
pub fn sparkline(label: &str, points: &[ChartPoint], highlight: NaiveDateTime) -> Markup {
    const W: f64 = 200.0;
    const H: f64 = 50.0;
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    let (t0, t1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (
            a.timestamp.and_utc().timestamp(),
            b.timestamp.and_utc().timestamp(),
        ),
        _ => {
            return html! { svg.sparkline viewBox="0 0 200 50" role="img" aria-label={ "No data for " (label) } {} };
        }
    };
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let x = |ts: NaiveDateTime| {
        2.0 + (ts.and_utc().timestamp() - t0) as f64 / (t1 - t0).max(1) as f64 * (W - 4.0)
    };
    let y = |v: f64| {
        let span = if hi > lo { hi - lo } else { 1.0 };
        let mid = if hi > lo { 0.0 } else { 0.5 };
        // Room above and below for the marker.
        7.0 + (1.0 - ((v - lo) / span + mid)) * (H - 14.0)
    };
    let value_path = line_path(
        points
            .iter()
            .map(|p| p.value.map(|v| (x(p.timestamp), y(v)))),
    );
    let score_path = line_path(points.iter().map(|p| {
        p.score
            .map(|s| (x(p.timestamp), 7.0 + (1.0 - s.clamp(0.0, 1.0)) * (H - 14.0)))
    }));
    let mark = points.iter().find(|p| p.timestamp == highlight);
    html! {
        svg.sparkline viewBox="0 0 200 50" preserveAspectRatio="none" role="img"
            aria-label={ "Recent values of " (label) } {
            path.score-line d=(score_path) {}
            path.value-line d=(value_path) stroke-width="1.5" {}
            @if let Some(p) = mark {
                @let cy = p.value.map(&y).unwrap_or(H / 2.0);
                path.marker.alert d=(diamond(x(p.timestamp), cy)) {}
            }
        }
    }
}

fn frame(points: &[ChartPoint], height: f64) -> Option<Frame> {
    let first = points.first()?.timestamp.and_utc().timestamp();
    let last = points.last()?.timestamp.and_utc().timestamp();
    let (mut v0, mut v1) = points
        .iter()
        .filter_map(|p| p.value)
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !v0.is_finite() {
        (v0, v1) = (0.0, 1.0);
    }
    let pad = if v1 > v0 {
        (v1 - v0) * 0.06
    } else {
        v0.abs().max(1.0) * 0.1
    };
    let (t0, t1) = if last > first {
        (first, last)
    } else {
        (first - 60, last + 60)
    };
    Some(Frame {
        height,
        t0,
        t1,
        v0: v0 - pad,
        v1: v1 + pad,
    })
}

/// An SVG path through the points, broken where a point is missing.
fn line_path(points: impl Iterator<Item = Option<(f64, f64)>>) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for p in points {
        match p {
            Some((x, y)) if x.is_finite() && y.is_finite() => {
                d.push(if pen_down { 'L' } else { 'M' });
                d.push_str(&fmt(x));
                d.push(' ');
                d.push_str(&fmt(y));
                pen_down = true;
            }
            _ => pen_down = false,
        }
    }
    d
}

fn triangle(x: f64, y: f64) -> String {
    format!(
        "M{} {}L{} {}L{} {}Z",
        fmt(x),
        fmt(y - 5.5),
        fmt(x + 5.5),
        fmt(y + 4.5),
        fmt(x - 5.5),
        fmt(y + 4.5)
    )
}

fn diamond(x: f64, y: f64) -> String {
    format!(
        "M{} {}L{} {}L{} {}L{} {}Z",
        fmt(x),
        fmt(y - 6.0),
        fmt(x + 6.0),
        fmt(y),
        fmt(x),
        fmt(y + 6.0),
        fmt(x - 6.0),
        fmt(y)
    )
}

/// Coordinates to one decimal: enough for a screen, and it keeps pages small.
fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

fn stamp(ts: NaiveDateTime) -> String {
    ts.format("%Y-%m-%d %H:%M").to_string()
}

/// A value as people read it: up to 4 significant decimals, no float noise.
pub fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.2}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

pub fn percent(score: f64) -> String {
    format!("{:.0}%", score * 100.0)
}

/// A threshold alert's metadata (what the ingest job stores: `breached_threshold_type`,
/// `breached_threshold_value`, `metric_value_at_breach`) in words: "value 0.62 is below the
/// lower bound 1". Metadata of another shape is shown as it is.
pub fn threshold_words(metadata: &str) -> String {
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(metadata) else {
        return metadata.to_owned();
    };
    let (Some(kind), Some(bound)) = (
        meta["breached_threshold_type"].as_str(),
        meta["breached_threshold_value"].as_f64(),
    ) else {
        return metadata.to_owned();
    };
    let side = if kind == "upper" { "above" } else { "below" };
    match meta["metric_value_at_breach"].as_f64() {
        Some(value) => format!(
            "value {} is {side} the {kind} bound {}",
            number(value),
            number(bound)
        ),
        None => format!("{side} the {kind} bound {}", number(bound)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn t(i: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap()
            + Duration::minutes(5 * i)
    }

    fn points() -> Vec<ChartPoint> {
        (0..50)
            .map(|i| ChartPoint {
                timestamp: t(i),
                value: if i == 20 {
                    None
                } else {
                    Some(10.0 + (i % 7) as f64)
                },
                score: Some(f64::from(i as u8) / 50.0),
                alert: i == 30,
                llmalert: (i == 31).then(|| "a <b>spike</b>".to_owned()),
                change: i == 40,
                tholdalert: (i == 41).then(|| r#"{"upper": 100}"#.to_owned()),
                feedback: None,
            })
            .collect()
    }

    #[test]
    fn the_chart_has_both_lines_every_marker_and_escaped_text() {
        let svg = metric_chart("m<script>", &points(), ChartStyle::default()).into_string();
        assert!(svg.contains("class=\"value-line\""));
        assert!(svg.contains("class=\"score-line\""));
        assert!(svg.contains("class=\"marker alert\""));
        assert!(svg.contains("class=\"marker llmalert\""));
        assert!(svg.contains("class=\"marker change\""));
        assert!(svg.contains("class=\"marker tholdalert\""));
        assert_eq!(
            threshold_words(
                r#"{"thresholds": {"upper": 12, "lower": 1}, "breached_threshold_type": "lower", "breached_threshold_value": 1.0, "metric_value_at_breach": 0.6188}"#
            ),
            "value 0.6188 is below the lower bound 1"
        );
        assert_eq!(threshold_words("not json"), "not json");
        assert!(
            svg.contains("a &lt;b&gt;spike&lt;/b&gt;"),
            "explanations are escaped"
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("100%") && svg.contains("0%"));
        // The missing value breaks the line: two pen-down moves.
        let value_d = svg.split("class=\"value-line\" d=\"").nth(1).unwrap();
        let value_d = &value_d[..value_d.find('"').unwrap()];
        assert_eq!(value_d.matches('M').count(), 2);
        // Time labels of a four-hour span are clock times.
        assert!(svg.contains(">01:00<") || svg.contains(">02:00<"), "{svg}");
    }

    #[test]
    fn an_empty_or_flat_series_still_renders() {
        let empty = metric_chart("m", &[], ChartStyle::default()).into_string();
        assert!(empty.contains("No points"));
        let flat: Vec<ChartPoint> = (0..3)
            .map(|i| ChartPoint {
                timestamp: t(i),
                value: Some(5.0),
                ..ChartPoint::default()
            })
            .collect();
        let svg = metric_chart("m", &flat, ChartStyle::default()).into_string();
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let one = metric_chart("m", &flat[..1], ChartStyle::default()).into_string();
        assert!(!one.contains("NaN"));
        let spark = sparkline("m", &flat, t(1)).into_string();
        assert!(spark.contains("marker alert") && !spark.contains("NaN"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.12345678), "0.1235");
        assert_eq!(number(1234.5678), "1234.57");
        assert_eq!(number(-2.5), "-2.5");
        assert_eq!(percent(0.873), "87%");
    }
}
