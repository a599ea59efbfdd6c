{%- from "./defaults/sql/window.sql" import newest, rows_at -%}
-- LLM alert window: per metric, the newest {{ llmalert_prompt_max_n }} values of the last
-- {{ llmalert_metric_timestamp_max_days_ago }} days with their scores, alerts and earlier LLM alerts.
WITH recent AS MATERIALIZED (
{{ newest('metric', llmalert_prompt_max_n, llmalert_metric_timestamp_max_days_ago) }}
)
{{ rows_at('recent', ['metric', 'score', 'alert', 'llmalert']) }}
