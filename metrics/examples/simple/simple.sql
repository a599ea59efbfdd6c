{%- from "./examples/uniform.sql" import uniform -%}
-- At three fixed times of day (UTC, ten minutes each) every run is anomalous, so any day of
-- history holds one anomaly of each kind: a spike at 03:20, a drop at 12:30 and a plateau at
-- 18:00. Otherwise one draw per run decides whether it is anomalous, and how.
WITH slot AS MATERIALIZED (
  SELECT CASE
    {%- if vars.daily_anomalies %}
    WHEN strftime('%H:%M', {{ run_ts | sql_quote }}) BETWEEN '03:20' AND '03:29' THEN 0
    WHEN strftime('%H:%M', {{ run_ts | sql_quote }}) BETWEEN '12:30' AND '12:39' THEN 1
    WHEN strftime('%H:%M', {{ run_ts | sql_quote }}) BETWEEN '18:00' AND '18:09' THEN 2
    {%- endif %}
    WHEN 0 THEN NULL
  END AS daily
),
draw AS MATERIALIZED (
  SELECT
    slot.daily IS NOT NULL OR {{ uniform() }} * 100 < {{ vars.anomaly_chance_pct }} AS anomalous,
    coalesce(slot.daily, (random() % 3 + 3) % 3) AS kind,
    5 + {{ uniform() }} AS plateau
  FROM slot
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
