{%- from "./defaults/sql/window.sql" import newest, rows_at -%}
-- Alert window: per metric, the newest {{ alert_max_n }} scored timestamps of the last
-- {{ alert_metric_timestamp_max_days_ago }} days with their value, score and earlier alerts. The
-- alert rule (smoothing, threshold, snooze) is applied to these rows by the alert job.
WITH scored AS MATERIALIZED (
{{ newest('score', alert_max_n, alert_metric_timestamp_max_days_ago, exclude=alert_exclude_metrics) }}
)
{{ rows_at('scored', ['metric', 'score', 'alert']) }}
