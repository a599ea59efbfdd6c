-- Alert window: per metric, the newest {{ alert_max_n }} scored timestamps of the last
-- {{ alert_metric_timestamp_max_days_ago }} days with their value, score and earlier alerts. The
-- alert rule (smoothing, threshold, snooze) is applied to these rows by the alert job.
WITH scored AS (
  SELECT metric_timestamp, metric_name
  FROM (
    SELECT metric_timestamp, metric_name,
           ROW_NUMBER() OVER (PARTITION BY metric_name ORDER BY metric_timestamp DESC) AS score_rank
    FROM {{ table_key }}
    WHERE metric_batch = {{ metric_batch | sql_quote }}
      AND metric_type = 'score'
      AND metric_timestamp >= datetime({{ run_ts | sql_quote }}, '-{{ alert_metric_timestamp_max_days_ago }} days')
      AND metric_timestamp <= {{ run_ts | sql_quote }}
      {% if alert_exclude_metrics %}AND metric_name NOT IN {{ alert_exclude_metrics | sql_list }}{% endif %}
  )
  WHERE score_rank <= {{ alert_max_n }}
)
SELECT m.metric_timestamp, m.metric_name, m.metric_type, m.metric_value, m.metadata
FROM {{ table_key }} AS m
JOIN scored AS s ON s.metric_name = m.metric_name AND s.metric_timestamp = m.metric_timestamp
WHERE m.metric_batch = {{ metric_batch | sql_quote }}
  AND m.metric_type IN ('metric', 'score', 'alert')
ORDER BY m.metric_name, m.metric_timestamp
