//! PNG charts drawn in Rust with a bundled font. Alert messages (email, Slack) get the value on
//! top and the anomaly score, the threshold line and the alert markers below, with alert times
//! as faint vertical lines in both panels; LLM alerts get the plain series they are asked about.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime};
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::palette::{Rgb, SCORE, VALUE, kind_rgb};
use crate::store::ChartPoint;

fn colour_of((r, g, b): Rgb) -> RGBColor {
    RGBColor(r, g, b)
}

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 540;

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

fn font_ready() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| ChartError("the bundled font did not load".into()))
}

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// The chart of one metric's recent points as PNG bytes. `score_label` names the lower
/// panel's series (the anomaly score, or a change score).
/// `value_smooth` is empty or one value per point (NaN for none): a smoothed value drawn dashed
/// over the values (change alerts' `change_smooth_n`, as in the original's plot).
pub fn alert_png(
    title: &str,
    points: &[ChartPoint],
    threshold: Option<f64>,
    score_label: &str,
    value_smooth: &[f64],
) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(
        &mut rgb,
        title,
        points,
        threshold,
        score_label,
        value_smooth,
    )?;
    encode(&rgb)
}

/// One series' values as a line over time, as PNG bytes: the picture a multimodal LLM gets next
/// to the numbers (`llmalert_include_plot`).
pub fn series_png(title: &str, points: &[(NaiveDateTime, f64)]) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw_series(&mut rgb, title, points)?;
    encode(&rgb)
}

/// Width of a batch picture; each row of panels adds [`PANEL_HEIGHT`].
pub const BATCH_WIDTH: u32 = 1200;
pub const PANEL_HEIGHT: u32 = 260;
/// Panels in one batch picture; the plot job draws the most anomalous this many.
pub const MAX_PANELS: usize = 24;

/// A whole batch in one picture, like the original's plot job: a panel per metric with its
/// values, its anomaly score dashed on a 0–1.1 axis on the right, alerts as red dots and
/// changes as orange dots.
pub fn batch_png(panels: &[(String, Vec<ChartPoint>)]) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let panels = &panels[..panels.len().min(MAX_PANELS)];
    let columns = if panels.len() > 1 { 2 } else { 1 };
    let rows = panels.len().div_ceil(columns).max(1);
    let height = PANEL_HEIGHT * rows as u32;
    let mut rgb = vec![0u8; (BATCH_WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (BATCH_WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((rows, columns));
        for ((metric, points), area) in panels.iter().zip(areas.iter()) {
            draw_panel(area, metric, points)?;
        }
        root.present().map_err(err)?;
    }
    encode_sized(&rgb, BATCH_WIDTH, height)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    metric: &str,
    points: &[ChartPoint],
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let axis = TimeAxis::new(
        points.first().map(|p| p.timestamp),
        points.last().map(|p| p.timestamp),
    );
    let line = axis.values(points, |_| true);
    let values: Vec<f64> = line.iter().map(|p| p.1).collect();
    let (lo, hi, pad) = value_range(&values);
    let mut chart = ChartBuilder::on(area)
        .caption(metric, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .right_y_label_area_size(40)
        .build_cartesian_2d(axis.t0..axis.t1, (lo - pad)..(hi + pad))
        .map_err(err)?
        .set_secondary_coord(axis.t0..axis.t1, 0.0..1.1);
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(4)
        .x_label_formatter(&|v| axis.label(*v))
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_labels(3)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(err)?;
    let blue = colour_of(VALUE);
    chart
        .draw_series(LineSeries::new(line.iter().copied(), blue.stroke_width(2)))
        .map_err(err)?;
    let scores: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            p.score
                .filter(|s| s.is_finite())
                .map(|s| (axis.x(p.timestamp), s.clamp(0.0, 1.1)))
        })
        .collect();
    chart
        .draw_secondary_series(DashedLineSeries::new(
            scores,
            5,
            4,
            RGBColor(120, 120, 120).stroke_width(1),
        ))
        .map_err(err)?;
    for kind in crate::store::ANOMALY_KINDS {
        let colour = colour_of(kind_rgb(kind));
        let marks = axis.values(points, |p| p.kinds().first() == Some(&kind));
        chart
            .draw_series(
                marks
                    .into_iter()
                    .map(|p| Circle::new(p, 4, colour.filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}

/// Draws on a blocking thread, so a big chart never stalls the async workers, and gives up
/// after 10 s.
pub async fn draw_in_background<F>(draw: F) -> Result<Vec<u8>, ChartError>
where
    F: FnOnce() -> Result<Vec<u8>, ChartError> + Send + 'static,
{
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
    match tokio::time::timeout(LIMIT, tokio::task::spawn_blocking(draw)).await {
        Ok(Ok(drawn)) => drawn,
        Ok(Err(e)) => Err(err(e)),
        Err(_) => Err(ChartError("drawing took too long".into())),
    }
}

fn encode(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    encode_sized(rgb, WIDTH, HEIGHT)
}

fn encode_sized(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    // Charts are flat colours and long runs: adaptive filtering with zlib's default level makes
    // them about 7 times smaller than the crate's fast defaults (20 KB for an alert chart), for
    // mail attachments, Slack uploads and LLM requests alike.
    encoder.set_compression(png::Compression::Default);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

fn secs(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

/// Seconds since the first point, as f64: plotters' integer axes overflow on epoch seconds.
#[derive(Clone, Copy)]
struct TimeAxis {
    base: i64,
    t0: f64,
    t1: f64,
}

impl TimeAxis {
    fn new(first: Option<NaiveDateTime>, last: Option<NaiveDateTime>) -> Self {
        let (base, t0, t1) = match (first, last) {
            (Some(a), Some(b)) if secs(b) > secs(a) => (secs(a), 0.0, (secs(b) - secs(a)) as f64),
            (Some(a), _) => (secs(a), -60.0, 60.0),
            _ => (0, 0.0, 1.0),
        };
        Self { base, t0, t1 }
    }

    fn x(&self, t: NaiveDateTime) -> f64 {
        (secs(t) - self.base) as f64
    }

    /// The drawable values of the points `keep` selects, placed on this axis.
    fn values(&self, points: &[ChartPoint], keep: impl Fn(&ChartPoint) -> bool) -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| keep(p))
            .filter_map(|p| {
                p.value
                    .filter(|v| drawable(*v))
                    .map(|v| (self.x(p.timestamp), v))
            })
            .collect()
    }

    fn label(&self, v: f64) -> String {
        DateTime::from_timestamp(self.base + v as i64, 0)
            .map(|d| d.format("%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }
}

/// Values plotters can place: finite and far from the f64 limits, where its arithmetic
/// overflows.
fn drawable(v: f64) -> bool {
    v.is_finite() && v.abs() < 1e300
}

/// The value axis: lowest, highest and the padding around them.
fn value_range(values: &[f64]) -> (f64, f64, f64) {
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo).abs() * 0.08).max(hi.abs() * 0.01).max(1e-9);
    if !(lo - pad).is_finite() || !(hi + pad).is_finite() || !pad.is_finite() {
        return (0.0, 1.0, 0.1);
    }
    (lo, hi, pad)
}

fn draw_series(
    rgb: &mut [u8],
    title: &str,
    points: &[(NaiveDateTime, f64)],
) -> Result<(), ChartError> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let axis = TimeAxis::new(points.first().map(|p| p.0), points.last().map(|p| p.0));
    let line: Vec<(f64, f64)> = points
        .iter()
        .filter(|(_, v)| drawable(*v))
        .map(|(t, v)| (axis.x(*t), *v))
        .collect();
    let values: Vec<f64> = line.iter().map(|p| p.1).collect();
    let (lo, hi, pad) = value_range(&values);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title} (n={})", values.len()), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(axis.t0..axis.t1, (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| axis.label(*v))
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            line.iter().copied(),
            RGBColor(31, 119, 180).stroke_width(2),
        ))
        .map_err(err)?;
    chart
        .draw_series(
            line.iter()
                .map(|p| Circle::new(*p, 2, RGBColor(31, 119, 180).filled())),
        )
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn draw(
    rgb: &mut [u8],
    title: &str,
    points: &[ChartPoint],
    threshold: Option<f64>,
    score_label: &str,
    value_smooth: &[f64],
) -> Result<(), ChartError> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(HEIGHT * 56 / 100);
    let axis = TimeAxis::new(
        points.first().map(|p| p.timestamp),
        points.last().map(|p| p.timestamp),
    );
    let (t0, t1) = (axis.t0, axis.t1);
    let x = |t: NaiveDateTime| axis.x(t);
    let label = move |v: &f64| axis.label(*v);
    let values: Vec<f64> = points
        .iter()
        .filter_map(|p| p.value)
        .filter(|v| drawable(*v))
        .collect();
    let (lo, hi, pad) = value_range(&values);
    let alerts: Vec<f64> = points
        .iter()
        .filter(|p| p.flagged())
        .map(|p| x(p.timestamp))
        .collect();
    let faint = RGBColor(200, 200, 200);

    let mut upper = ChartBuilder::on(&top)
        .caption(format!("{title} (n={})", values.len()), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(0)
        .y_label_area_size(70)
        .build_cartesian_2d(t0..t1, (lo - pad)..(hi + pad))
        .map_err(err)?;
    upper
        .configure_mesh()
        .x_labels(0)
        .y_labels(5)
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for t in &alerts {
        upper
            .draw_series(LineSeries::new([(*t, lo - pad), (*t, hi + pad)], faint))
            .map_err(err)?;
    }
    let line = axis.values(points, |_| true);
    upper
        .draw_series(LineSeries::new(line, colour_of(VALUE).stroke_width(2)))
        .map_err(err)?;
    let smooth: Vec<(f64, f64)> = points
        .iter()
        .zip(value_smooth)
        .filter(|(_, v)| drawable(**v))
        .map(|(p, v)| (x(p.timestamp), *v))
        .collect();
    if !smooth.is_empty() {
        upper
            .draw_series(DashedLineSeries::new(
                smooth,
                6,
                4,
                RGBColor(255, 127, 14).stroke_width(2),
            ))
            .map_err(err)?;
    }

    let scores: Vec<f64> = points
        .iter()
        .filter_map(|p| p.score)
        .filter(|s| drawable(*s))
        .collect();
    let top_score = scores
        .iter()
        .copied()
        .chain(threshold.filter(|t| drawable(*t)))
        .fold(0.0f64, f64::max);
    let score_max = if top_score <= 1.0 {
        1.05
    } else {
        top_score * 1.1
    };
    let mut lower = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(t0..t1, 0.0..score_max)
        .map_err(err)?;
    lower
        .configure_mesh()
        .x_labels(6)
        .y_labels(4)
        .x_label_formatter(&label)
        .y_desc(score_label)
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for t in &alerts {
        lower
            .draw_series(LineSeries::new([(*t, 0.0), (*t, score_max)], faint))
            .map_err(err)?;
    }
    if let Some(th) = threshold.filter(|t| t.is_finite() && *t <= score_max) {
        lower
            .draw_series(LineSeries::new(
                [(t0, th), (t1, th)],
                RGBColor(120, 120, 120),
            ))
            .map_err(err)?
            .label(format!("threshold ({th})"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RGBColor(120, 120, 120)));
    }
    let score_line: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            p.score
                .filter(|s| s.is_finite() && *s <= score_max)
                .map(|s| (x(p.timestamp), s))
        })
        .collect();
    lower
        .draw_series(LineSeries::new(
            score_line,
            colour_of(SCORE).stroke_width(2),
        ))
        .map_err(err)?
        .label(score_label.to_owned())
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], colour_of(SCORE)));
    // One colour per kind, as on the dashboard; a point flagged twice takes its first kind.
    for kind in crate::store::ANOMALY_KINDS {
        let marks: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.kinds().first() == Some(&kind))
            .map(|p| (x(p.timestamp), p.score.unwrap_or(0.0).min(score_max)))
            .collect();
        if marks.is_empty() {
            continue;
        }
        let colour = colour_of(kind_rgb(kind));
        lower
            .draw_series(
                marks
                    .into_iter()
                    .map(move |(x, y)| Circle::new((x, y), 5, colour.filled())),
            )
            .map_err(err)?
            .label(super::kind_label(kind))
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, colour.filled()));
    }
    lower
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(220, 220, 220))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn points(n: i64) -> Vec<ChartPoint> {
        let t0 = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        (0..n)
            .map(|i| ChartPoint {
                timestamp: t0 + Duration::minutes(5 * i),
                value: Some(10.0 + (i % 7) as f64 + if i == n - 1 { 30.0 } else { 0.0 }),
                score: Some(if i == n - 1 { 0.95 } else { 0.1 }),
                alert: i == n - 1,
                llmalert: None,
                change: false,
                tholdalert: None,
                feedback: None,
            })
            .collect()
    }

    #[test]
    fn a_chart_is_a_png_of_the_right_size_and_empty_series_still_draw() {
        let png = alert_png("cpu", &points(100), Some(0.8), "anomaly score", &[]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (WIDTH, HEIGHT));
        assert!(
            png.len() > 10_000,
            "{} bytes: something was drawn",
            png.len()
        );
        // Kept for review with the other screenshots.
        let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        if std::fs::create_dir_all(&shots).is_ok() {
            let _ = std::fs::write(shots.join("alert-chart.png"), &png);
        }
        let values: Vec<f64> = points(100)
            .iter()
            .map(|p| p.value.unwrap_or(f64::NAN) - 3.0)
            .collect();
        let smoothed = alert_png("cpu", &points(100), Some(0.8), "anomaly score", &values).unwrap();
        assert_ne!(png, smoothed, "the smoothed line is drawn");
        assert!(alert_png("none", &[], None, "score", &[]).is_ok());
        assert!(alert_png("one", &points(1), Some(0.8), "score", &[5.0]).is_ok());
        let mut huge = points(5);
        huge[0].value = Some(-1e308);
        huge[1].value = Some(1e308);
        huge[2].value = Some(1.78e308);
        huge[3].score = Some(1.7e308);
        assert!(
            alert_png(
                "huge",
                &huge,
                Some(f64::MAX),
                "score",
                &[f64::MAX, f64::NAN, 1.0]
            )
            .is_ok(),
            "extreme values still draw"
        );
    }

    #[test]
    fn a_batch_picture_has_a_panel_per_metric_two_abreast() {
        let panels: Vec<(String, Vec<ChartPoint>)> =
            (0..5).map(|i| (format!("m{i}"), points(50 + i))).collect();
        let png = batch_png(&panels).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .unwrap();
        assert_eq!(
            (reader.info().width, reader.info().height),
            (BATCH_WIDTH, 3 * PANEL_HEIGHT),
            "five panels in three rows"
        );
        let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        if std::fs::create_dir_all(&shots).is_ok() {
            let _ = std::fs::write(shots.join("batch-plot.png"), &png);
        }
        let many: Vec<(String, Vec<ChartPoint>)> =
            (0..40).map(|i| (format!("m{i}"), points(3))).collect();
        let reader_many = batch_png(&many).unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(&reader_many))
            .read_info()
            .unwrap();
        assert_eq!(info.info().height, (MAX_PANELS as u32 / 2) * PANEL_HEIGHT);
        assert!(batch_png(&[]).is_ok());
        assert!(batch_png(&[("one".into(), points(1))]).is_ok());
    }

    #[test]
    fn a_series_chart_draws_its_line_and_survives_odd_series() {
        let series: Vec<(NaiveDateTime, f64)> = points(60)
            .iter()
            .map(|p| (p.timestamp, p.value.unwrap_or(0.0)))
            .collect();
        let png = series_png("signups", &series).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .unwrap();
        assert_eq!((reader.info().width, reader.info().height), (WIDTH, HEIGHT));
        let flat: Vec<(NaiveDateTime, f64)> = series.iter().map(|(t, _)| (*t, 12.0)).collect();
        assert_ne!(
            png,
            series_png("signups", &flat).unwrap(),
            "the line follows the values"
        );
        assert!(series_png("none", &[]).is_ok());
        assert!(series_png("one", &series[..1]).is_ok());
        let wild = [
            (series[0].0, f64::NAN),
            (series[1].0, 1.7e308),
            (series[2].0, -3.0),
        ];
        assert!(series_png("wild", &wild).is_ok());
    }
}
