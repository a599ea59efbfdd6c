//! Plot: one picture of the batch, like the original's plot job (which showed it only inside
//! Dagster): the newest `alert_max_n` points of each metric from `plot_sql`, a panel per metric,
//! the metrics with the most alerts first. It replaces the batch's row in `plots`; the dashboard
//! serves it at `/batch/{batch}/plot.png` for linking and embedding.

use super::{JobCtx, JobError, JobReport, by_metric, read_rows};
use crate::charts::png::{MAX_PANELS, batch_png, draw_in_background};
use crate::config::Batch;
use crate::store::{ChartPoint, Plot, PlotInfo};

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let mut report = JobReport::default();
    let rows = read_rows(ctx, batch, "plot_sql", &batch.spec.plot_sql, &mut report).await?;
    let mut panels: Vec<(String, Vec<ChartPoint>)> = by_metric(rows)
        .into_iter()
        .map(|(metric, rows)| (metric, ChartPoint::from_rows(&rows)))
        .filter(|(_, points)| points.iter().any(|p| p.value.is_some()))
        .collect();
    if panels.is_empty() {
        report.note("no values in the plot window; the previous picture is kept");
        return Ok(report);
    }
    // Stable: ties keep the metrics' alphabetical order.
    panels.sort_by_key(|(_, points)| std::cmp::Reverse(alerts(points)));
    if panels.len() > MAX_PANELS {
        report.note(format!(
            "{} metrics: drawing the {MAX_PANELS} with the most alerts",
            panels.len()
        ));
        panels.truncate(MAX_PANELS);
    }
    let metrics = panels.len() as u32;
    let png = draw_in_background(move || batch_png(&panels))
        .await
        .map_err(|e| JobError::Config {
            batch: batch.name().to_owned(),
            message: e.to_string(),
        })?;
    let size = png.len();
    let plot = Plot {
        info: PlotInfo {
            // When it was drawn (a backfill's run time may be long ago).
            created_at: chrono::Utc::now().naive_utc(),
            metrics,
        },
        png,
    };
    ctx.store.save_plot(batch.name(), &plot).await?;
    report.note(format!(
        "drew {metrics} metric(s) ({} KiB), served at /batch/{}/plot.png",
        size.div_ceil(1024),
        batch.name()
    ));
    Ok(report)
}

/// Points flagged by any job.
fn alerts(points: &[ChartPoint]) -> usize {
    points.iter().filter(|p| p.flagged()).count()
}
