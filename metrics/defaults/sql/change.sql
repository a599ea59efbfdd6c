{%- from "./defaults/sql/window.sql" import newest, rows_at -%}
-- Change window: per metric, the newest {{ change_max_n }} values of the last
-- {{ change_metric_timestamp_max_days_ago }} days with the change flags already stored for them.
WITH recent AS MATERIALIZED (
{{ newest('metric', change_max_n, change_metric_timestamp_max_days_ago, exclude=change_exclude_metrics, include=change_include_metrics) }}
)
{{ rows_at('recent', ['metric', 'change']) }}
