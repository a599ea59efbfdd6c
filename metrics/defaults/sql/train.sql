{%- from "./defaults/sql/window.sql" import newest -%}
-- Training window: per metric, the newest {{ train_max_n }} values of the last
-- {{ train_metric_timestamp_max_days_ago }} days before the run time.
{{ newest('metric', train_max_n, train_metric_timestamp_max_days_ago, exclude=train_exclude_metrics) }}
