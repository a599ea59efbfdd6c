{%- from "./defaults/sql/window.sql" import newest, rows_at -%}
-- Scoring window: per metric, the newest {{ score_max_n }} values of the last
-- {{ score_metric_timestamp_max_days_ago }} days, with the scores already stored for them (the
-- score job only writes timestamps that have none).
WITH recent AS MATERIALIZED (
{{ newest('metric', score_max_n, score_metric_timestamp_max_days_ago, exclude=score_exclude_metrics) }}
)
{{ rows_at('recent', ['metric', 'score']) }}
