//! Charts as inline SVG, rendered on the server: a metric's value line with its anomaly score
//! on a 0–100 % secondary axis and markers for every alert kind, and a sparkline for lists.
//! Colours are CSS classes (see `assets/app.css`), so light and dark themes need no
//! re-rendering; every marker carries a `<title>`, which browsers show on hover.

pub mod ascii;
mod kinds;
pub mod palette;
pub mod png;
mod scale;

use chrono::NaiveDateTime;
use maud::{Markup, html};

use crate::store::{ChartPoint, MetricType};
pub use kinds::{anomalies_words, kind_label, kinds_words};
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
            legend: true,
            line_width: 2,
        }
    }
}

const WIDTH: f64 = 640.0;
/// Room for the rotated axis titles; tick labels sit inside the plot, above their grid
/// lines, so long values never need a wider margin and phones can enlarge them.
const LEFT: f64 = 22.0;
const RIGHT: f64 = 22.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 40.0;
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
        self.x_unix(ts.and_utc().timestamp())
    }

    fn x_unix(&self, t: i64) -> f64 {
        let span = (self.t1 - self.t0).max(1) as f64;
        LEFT + (t - self.t0) as f64 / span * (WIDTH - LEFT - RIGHT)
    }

    fn y_value(&self, v: f64) -> f64 {
        TOP + (1.0 - (v - self.v0) / (self.v1 - self.v0)) * self.plot_height()
    }

    fn y_score(&self, s: f64) -> f64 {
        TOP + (1.0 - s.clamp(0.0, SCORE_TOP) / SCORE_TOP) * self.plot_height()
    }

    fn plot_height(&self) -> f64 {
        self.height - TOP - BOTTOM
    }

    /// Where a flagged point's marker goes: at its value, or at the top when the value
    /// has aged out of storage.
    fn y_marker(&self, p: &ChartPoint) -> f64 {
        p.value.map_or(TOP + 6.0, |v| self.y_value(v))
    }
}

/// What a metric's own page draws over its chart: the alert threshold on the score axis, and
/// where the alert rule kept the metric from alerting again after an alert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlays {
    pub threshold: Option<f64>,
    /// From an alert to the first point that could alert again (`None`: still waiting).
    pub disarmed: Vec<(NaiveDateTime, Option<NaiveDateTime>)>,
    /// Why the metric waits, for the shading's tooltip ("snoozed 24 points, then 6 points
    /// back to normal").
    pub rearm_words: String,
    /// The time axis's span when several charts share one (an incident's metrics); otherwise
    /// the points' own.
    pub time_range: Option<(NaiveDateTime, NaiveDateTime)>,
}

/// The full chart of one metric. `title` names it for screen readers.
pub fn metric_chart(title: &str, points: &[ChartPoint], style: ChartStyle) -> Markup {
    metric_chart_with(title, points, style, &Overlays::default())
}

/// [`metric_chart`] with the alert rule's overlays.
pub fn metric_chart_with(
    title: &str,
    points: &[ChartPoint],
    style: ChartStyle,
    overlays: &Overlays,
) -> Markup {
    let height = if style.large { 420.0 } else { 260.0 };
    let range = overlays
        .time_range
        .map(|(a, b)| (a.and_utc().timestamp(), b.and_utc().timestamp()));
    let Some(frame) = frame(points, height, range) else {
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
    let score_points = || {
        points
            .iter()
            .map(|p| p.score.map(|s| (frame.x(p.timestamp), frame.y_score(s))))
    };
    let score_path = line_path(score_points());
    let score_area = area_path(score_points(), frame.y_score(0.0));
    let bottom = height - BOTTOM;
    let right = WIDTH - RIGHT;
    let marker_r = f64::from(style.line_width) + 1.0;
    let present: Vec<MetricType> = crate::store::ANOMALY_KINDS
        .into_iter()
        .filter(|k| points.iter().any(|p| p.kinds().contains(k)))
        .collect();
    let has_score = points.iter().any(|p| p.score.is_some());
    html! {
        figure.chart-figure {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
            preserveAspectRatio="none" aria-label={ "Chart of " (title) } {
            title { (title) ": value and anomaly score" }
            // Grid, with each value label above its line, inside the plot.
            @for (v, label) in &value_ticks {
                @let y = frame.y_value(*v);
                line.grid x1=(LEFT) x2=(right) y1=(fmt(y)) y2=(fmt(y)) {}
                text.axis x=(LEFT + 3.0) y=(fmt(y - 3.0)) { (label) }
            }
            @if has_score {
                @for pct in [50, 100] {
                    @let y = frame.y_score(f64::from(pct) / 100.0);
                    text.axis.score-axis x=(right - 3.0) y=(fmt(y + 12.0)) text-anchor="end" { (pct) "%" }
                }
            }
            @for (i, (t, label)) in time_axis.ticks().iter().enumerate() {
                @let x = frame.x_unix(*t);
                line.tick x1=(fmt(x)) x2=(fmt(x)) y1=(bottom) y2=(bottom + 4.0) {}
                text.axis.minor[i % 2 == 1] x=(fmt(x)) y=(bottom + 16.0) text-anchor="middle" { (label) }
            }
            line.frame x1=(LEFT) x2=(right) y1=(bottom) y2=(bottom) {}
            text.axis.axis-title x=(fmt(LEFT - 8.0)) y=(fmt(TOP + frame.plot_height() / 2.0)) text-anchor="middle"
                transform={ "rotate(-90 " (fmt(LEFT - 8.0)) " " (fmt(TOP + frame.plot_height() / 2.0)) ")" } { "value" }
            @if has_score {
                text.axis.axis-title.score-axis x=(fmt(right + 14.0)) y=(fmt(TOP + frame.plot_height() / 2.0)) text-anchor="middle"
                    transform={ "rotate(90 " (fmt(right + 14.0)) " " (fmt(TOP + frame.plot_height() / 2.0)) ")" } { "score" }
            }
            text.axis.axis-title x=(fmt((LEFT + right) / 2.0)) y=(fmt(height - 4.0)) text-anchor="middle" {
                (time_title(frame.t0, frame.t1))
            }
            // Behind everything: where the metric waited to re-arm, and the threshold.
            @for (from, to) in &overlays.disarmed {
                @let x0 = frame.x(*from);
                @let x1 = to.map_or(right, |t| frame.x(t));
                rect.disarmed x=(fmt(x0)) y=(TOP) width=(fmt((x1 - x0).max(1.0))) height=(fmt(frame.plot_height())) {
                    title {
                        "No new ML alert from " (stamp(*from)) " UTC"
                        @match to { Some(t) => { " to " (stamp(*t)) " UTC" } None => { " until it re-arms" } }
                        ": " (overlays.rearm_words)
                    }
                }
            }
            @if let (Some(t), true) = (overlays.threshold, has_score) {
                @let y = frame.y_score(t);
                line.threshold-line x1=(LEFT) x2=(right) y1=(fmt(y)) y2=(fmt(y)) {
                    title { "Alert threshold: smoothed score " (t) }
                }
            }
            // Score first, as a shaded area, so the value line is drawn over it.
            @if has_score {
                path.score-area d=(score_area) {}
                path.score-line d=(score_path) {}
            }
            path.value-line d=(value_path) stroke-width=(style.line_width) {}
            @if style.markers {
                @for p in points {
                    @if let Some(v) = p.value {
                        circle.value-point cx=(fmt(frame.x(p.timestamp))) cy=(fmt(frame.y_value(v))) r=(fmt(marker_r)) {
                            title { (stamp(p.timestamp)) " UTC: " (number(v)) @if let Some(s) = p.score { " (score " (percent(s)) ")" } }
                        }
                    }
                }
            }
            // Anomaly markers sit on the flagged value, one shape and colour per kind.
            @for p in points {
                @let (x, y) = (frame.x(p.timestamp), frame.y_marker(p));
                @let at = html! { (stamp(p.timestamp)) " UTC" @if let Some(v) = p.value { ": " (number(v)) } };
                @if p.alert {
                    circle.marker.alert cx=(fmt(x)) cy=(fmt(y)) r="7" {
                        title { "ML anomaly at " (at) @if let Some(s) = p.score { " (score " (percent(s)) ")" } }
                    }
                }
                @if let Some(meta) = &p.tholdalert {
                    path.marker.tholdalert d=(diamond(x, y)) {
                        title { "Threshold at " (at) @if !meta.is_empty() { ": " (threshold_words(meta)) } }
                    }
                }
                @if p.change {
                    path.marker.change d=(triangle(x, y)) {
                        title { "Change at " (at) }
                    }
                }
                @if let Some(why) = &p.llmalert {
                    rect.marker.llmalert x=(fmt(x - 4.5)) y=(fmt(y - 4.5)) width="9" height="9" {
                        title { "LLM anomaly at " (at) ": " (why) }
                    }
                }
            }
        }
        @if style.legend {
            figcaption.legend {
                span.key { svg viewBox="0 0 16 10" { line.value-line x1="0" x2="16" y1="5" y2="5" stroke-width="2" {} } "value" }
                @if has_score {
                    span.key { svg viewBox="0 0 16 10" { rect.score-area x="0" y="2" width="16" height="8" {} line.score-line x1="0" x2="16" y1="2" y2="2" {} } "anomaly score (right axis)" }
                }
                @for k in &present {
                    span.key { (legend_mark(*k)) (kind_label(*k)) }
                }
                @if overlays.threshold.is_some() && has_score {
                    span.key { svg viewBox="0 0 16 10" { line.threshold-line x1="0" x2="16" y1="5" y2="5" {} } "alert threshold" }
                }
                @if !overlays.disarmed.is_empty() {
                    span.key { svg viewBox="0 0 16 10" { rect.disarmed x="0" y="0" width="16" height="10" {} } "waiting to re-arm" }
                }
            }
        }
        }
    }
}

/// A kind's marker, small, for a legend.
pub fn legend_mark(kind: MetricType) -> Markup {
    html! {
        svg viewBox="0 0 14 14" aria-hidden="true" {
            @match kind {
                MetricType::Alert => { circle.mark.alert cx="7" cy="7" r="5" {} }
                MetricType::TholdAlert => { path.mark.tholdalert d=(diamond(7.0, 7.0)) {} }
                MetricType::Change => { path.mark.change d=(triangle(7.0, 7.5)) {} }
                _ => { rect.mark.llmalert x="2.5" y="2.5" width="9" height="9" {} }
            }
        }
    }
}

/// The time axis's title: "time (UTC), 3 Dec 2026" or "time (UTC), 3 Dec – 4 Dec 2026".
fn time_title(t0: i64, t1: i64) -> String {
    let day = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.date_naive());
    match (day(t0), day(t1)) {
        (Some(a), Some(b)) if a == b => format!("time (UTC), {}", a.format("%-d %b %Y")),
        (Some(a), Some(b)) => format!(
            "time (UTC), {} – {}",
            a.format("%-d %b"),
            b.format("%-d %b %Y")
        ),
        _ => "time (UTC)".into(),
    }
}

/// Which flagged points a sparkline marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marks {
    /// Every flagged point, each in its kind's colour.
    All,
    /// Only the anomaly at this time (the one a list row is about).
    Only(NaiveDateTime),
}

/// A 200×50 sparkline of the values with flagged points marked at their value, in their
/// kind's colour (the score is left out: two lines that small read as one).
pub fn sparkline(label: &str, points: &[ChartPoint], marks: Marks) -> Markup {
    const W: f64 = 200.0;
    const H: f64 = 50.0;
    let (t0, t1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (
            a.timestamp.and_utc().timestamp(),
            b.timestamp.and_utc().timestamp(),
        ),
        _ => {
            return html! { svg.sparkline viewBox="0 0 200 50" role="img" aria-label={ "No data for " (label) } {} };
        }
    };
    let (lo, hi) = value_range(points.iter().filter_map(|p| p.value));
    // Room on every side for the markers.
    let x = |ts: NaiveDateTime| {
        7.0 + (ts.and_utc().timestamp() - t0) as f64 / (t1 - t0).max(1) as f64 * (W - 14.0)
    };
    let y = |v: f64| 7.0 + (1.0 - (v - lo) / (hi - lo)) * (H - 14.0);
    let value_path = line_path(
        points
            .iter()
            .map(|p| p.value.map(|v| (x(p.timestamp), y(v)))),
    );
    let marked: Vec<(&ChartPoint, MetricType)> = points
        .iter()
        .filter(|p| match marks {
            Marks::All => true,
            Marks::Only(ts) => p.timestamp == ts,
        })
        .filter_map(|p| p.kinds().first().map(|k| (p, *k)))
        .collect();
    html! {
        svg.sparkline viewBox="0 0 200 50" preserveAspectRatio="none" role="img"
            aria-label={ "Recent values of " (label) } {
            path.value-line d=(value_path) stroke-width="1.5" {}
            @for (p, kind) in &marked {
                @let cy = p.value.map(&y).unwrap_or(H / 2.0);
                path class={ "marker " (kind.as_str()) } d=(diamond(x(p.timestamp), cy)) {
                    title { (kind_label(*kind)) " at " (stamp(p.timestamp)) " UTC" }
                }
            }
        }
    }
}

/// Bars of counts (oldest first) in a 200×32 box: how many anomalies each hour had.
pub fn bars(label: &str, counts: &[u32]) -> Markup {
    const W: f64 = 200.0;
    const H: f64 = 32.0;
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let step = W / counts.len().max(1) as f64;
    html! {
        svg.bars viewBox="0 0 200 32" preserveAspectRatio="none" role="img" aria-label=(label) {
            line.frame x1="0" x2="200" y1="31.5" y2="31.5" {}
            @for (i, n) in counts.iter().enumerate() {
                @if *n > 0 {
                    @let h = (f64::from(*n) / f64::from(top) * (H - 2.0)).max(3.0);
                    rect.bar x=(fmt(i as f64 * step + 1.0)) y=(fmt(H - h)) width=(fmt((step - 2.0).max(1.0))) height=(fmt(h)) {}
                }
            }
        }
    }
}

/// The value axis's range: the values' span padded by 6 %, and never narrower than 2 % of
/// their size, so noise on a large steady value (a disk at 76.827 GiB) is not drawn as a
/// cliff; a single value sits in the middle.
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let mid = (lo + hi) / 2.0;
    let least = (mid.abs() * 0.02).max(1e-9);
    let span = (hi - lo).max(least);
    let pad = span * 0.06;
    (mid - span / 2.0 - pad, mid + span / 2.0 + pad)
}

fn frame(points: &[ChartPoint], height: f64, range: Option<(i64, i64)>) -> Option<Frame> {
    let first = points.first()?.timestamp.and_utc().timestamp();
    let last = points.last()?.timestamp.and_utc().timestamp();
    let (first, last) = range.unwrap_or((first, last));
    let (v0, v1) = value_range(points.iter().filter_map(|p| p.value));
    let (t0, t1) = if last > first {
        (first, last)
    } else {
        (first - 60, last + 60)
    };
    Some(Frame {
        height,
        t0,
        t1,
        v0,
        v1,
    })
}

/// An SVG area between the points and the line `y = base`, broken where a point is missing.
fn area_path(points: impl Iterator<Item = Option<(f64, f64)>>, base: f64) -> String {
    let mut d = String::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let close = |run: &mut Vec<(f64, f64)>, d: &mut String| {
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            d.push_str(&format!("M{} {}", fmt(first.0), fmt(base)));
            for (x, y) in run.iter() {
                d.push_str(&format!("L{} {}", fmt(*x), fmt(*y)));
            }
            d.push_str(&format!("L{} {}Z", fmt(last.0), fmt(base)));
        }
        run.clear();
    };
    for p in points {
        match p {
            Some((x, y)) if x.is_finite() && y.is_finite() => run.push((x, y)),
            _ => close(&mut run, &mut d),
        }
    }
    close(&mut run, &mut d);
    d
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
        // The score area closes on the 0 % line: every run starts and ends there.
        let area = svg.split("class=\"score-area\" d=\"").nth(1).unwrap();
        let area = &area[..area.find('"').unwrap()];
        assert!(area.starts_with('M') && area.ends_with('Z'), "{area}");
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
        let spark = sparkline("m", &flat, Marks::All).into_string();
        assert!(!spark.contains("marker") && !spark.contains("NaN"));
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
