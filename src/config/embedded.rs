//! `metrics/defaults/` compiled into the binary, so the app runs with its defaults from any
//! directory (a Docker image, a user's own metrics folder without a `defaults/` copy).

/// Paths relative to the metrics directory, with their contents.
pub static FILES: &[(&str, &str)] = &[
    (
        "defaults/defaults.yaml",
        include_str!("../../metrics/defaults/defaults.yaml"),
    ),
    (
        "defaults/sql/window.sql",
        include_str!("../../metrics/defaults/sql/window.sql"),
    ),
    (
        "defaults/sql/train.sql",
        include_str!("../../metrics/defaults/sql/train.sql"),
    ),
    (
        "defaults/sql/score.sql",
        include_str!("../../metrics/defaults/sql/score.sql"),
    ),
    (
        "defaults/sql/alerts.sql",
        include_str!("../../metrics/defaults/sql/alerts.sql"),
    ),
    (
        "defaults/sql/change.sql",
        include_str!("../../metrics/defaults/sql/change.sql"),
    ),
    (
        "defaults/sql/llmalert.sql",
        include_str!("../../metrics/defaults/sql/llmalert.sql"),
    ),
    (
        "defaults/sql/plot.sql",
        include_str!("../../metrics/defaults/sql/plot.sql"),
    ),
    (
        "defaults/sql/delete.sql",
        include_str!("../../metrics/defaults/sql/delete.sql"),
    ),
    (
        "defaults/sql/summary.sql",
        include_str!("../../metrics/defaults/sql/summary.sql"),
    ),
];

pub const DEFAULTS_YAML: &str = "defaults/defaults.yaml";

pub fn get(path: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
}
