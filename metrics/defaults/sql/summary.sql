-- Daily summary of this batch: per metric over the last {{ summary_metric_timestamp_max_days_ago }}
-- day(s), the newest timestamp and how many rows of each kind were stored.
SELECT metric_name,
       MAX(CASE WHEN metric_type = 'metric' THEN metric_timestamp END) AS metric_timestamp_max,
       SUM(metric_type = 'metric') AS n_metric,
       SUM(metric_type = 'score') AS n_score,
       SUM(metric_type = 'alert') AS n_alert,
       SUM(metric_type = 'change') AS n_change,
       SUM(metric_type = 'llmalert') AS n_llmalert,
       SUM(metric_type = 'tholdalert') AS n_tholdalert
FROM {{ table_key }}
WHERE metric_batch = {{ metric_batch | sql_quote }}
  AND metric_timestamp >= datetime({{ run_ts | sql_quote }}, '-{{ summary_metric_timestamp_max_days_ago }} days')
  AND metric_timestamp <= {{ run_ts | sql_quote }}
GROUP BY metric_name
ORDER BY n_alert DESC, metric_name
