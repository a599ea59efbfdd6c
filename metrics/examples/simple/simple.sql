{%- from "./examples/uniform.sql" import uniform -%}
-- One draw per run decides whether this run is anomalous, and how, for all five metrics.
WITH draw AS MATERIALIZED (
  SELECT
    {{ uniform() }} * 100 < {{ vars.anomaly_chance_pct }} AS anomalous,
    (random() % 3 + 3) % 3 AS kind,
    5 + {{ uniform() }} AS plateau
),
names(metric_name) AS (
  VALUES ('metric1'), ('metric2'), ('metric3'), ('metric4'), ('metric5')
)
SELECT
  {{ run_ts | sql_quote }} AS metric_timestamp,
  metric_name,
  CASE
    WHEN draw.anomalous AND draw.kind = 0 THEN 15 + 15 * {{ uniform() }}
    WHEN draw.anomalous AND draw.kind = 1 THEN -10 + 9 * {{ uniform() }}
    WHEN draw.anomalous THEN draw.plateau
    ELSE 10 * {{ uniform() }}
  END AS metric_value
FROM names CROSS JOIN draw
