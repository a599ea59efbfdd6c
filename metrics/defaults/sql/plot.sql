{%- from "./defaults/sql/window.sql" import newest, rows_at -%}
-- Plot window: per metric, the newest {{ alert_max_n }} values of the last
-- {{ alert_metric_timestamp_max_days_ago }} days with every score and alert row at those times.
WITH recent AS MATERIALIZED (
{{ newest('metric', alert_max_n, alert_metric_timestamp_max_days_ago) }}
)
{{ rows_at('recent', ['metric', 'score', 'alert', 'change', 'llmalert', 'tholdalert']) }}
