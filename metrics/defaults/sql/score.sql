-- Scoring window: per metric, the newest {{ score_max_n }} values of the last
-- {{ score_metric_timestamp_max_days_ago }} days, plus the scores already stored for them (the
-- score job only writes timestamps that have none).
WITH recent AS (
  SELECT metric_timestamp, metric_name, metric_value, metadata
  FROM (
    SELECT metric_timestamp, metric_name, metric_value, metadata,
           ROW_NUMBER() OVER (PARTITION BY metric_name ORDER BY metric_timestamp DESC) AS recency_rank
    FROM {{ table_key }}
    WHERE metric_batch = {{ metric_batch | sql_quote }}
      AND metric_type = 'metric'
      AND metric_timestamp >= datetime({{ run_ts | sql_quote }}, '-{{ score_metric_timestamp_max_days_ago }} days')
      AND metric_timestamp <= {{ run_ts | sql_quote }}
      {% if score_exclude_metrics %}AND metric_name NOT IN {{ score_exclude_metrics | sql_list }}{% endif %}
  )
  WHERE recency_rank <= {{ score_max_n }}
)
SELECT metric_timestamp, metric_name, 'metric' AS metric_type, metric_value, metadata FROM recent
UNION ALL
SELECT s.metric_timestamp, s.metric_name, s.metric_type, s.metric_value, s.metadata
FROM {{ table_key }} AS s
JOIN recent AS r ON r.metric_name = s.metric_name AND r.metric_timestamp = s.metric_timestamp
WHERE s.metric_batch = {{ metric_batch | sql_quote }} AND s.metric_type = 'score'
ORDER BY metric_name, metric_timestamp
