-- Change window: per metric, the newest {{ change_max_n }} values of the last
-- {{ change_metric_timestamp_max_days_ago }} days with the change flags already stored for them.
WITH recent AS (
  SELECT metric_timestamp, metric_name
  FROM (
    SELECT metric_timestamp, metric_name,
           ROW_NUMBER() OVER (PARTITION BY metric_name ORDER BY metric_timestamp DESC) AS recency_rank
    FROM {{ table_key }}
    WHERE metric_batch = {{ metric_batch | sql_quote }}
      AND metric_type = 'metric'
      AND metric_timestamp >= datetime({{ run_ts | sql_quote }}, '-{{ change_metric_timestamp_max_days_ago }} days')
      AND metric_timestamp <= {{ run_ts | sql_quote }}
      {% if change_include_metrics %}AND metric_name IN {{ change_include_metrics | sql_list }}{% endif %}
      {% if change_exclude_metrics %}AND metric_name NOT IN {{ change_exclude_metrics | sql_list }}{% endif %}
  )
  WHERE recency_rank <= {{ change_max_n }}
)
SELECT m.metric_timestamp, m.metric_name, m.metric_type, m.metric_value, m.metadata
FROM {{ table_key }} AS m
JOIN recent AS r ON r.metric_name = m.metric_name AND r.metric_timestamp = m.metric_timestamp
WHERE m.metric_batch = {{ metric_batch | sql_quote }}
  AND m.metric_type IN ('metric', 'change')
ORDER BY m.metric_name, m.metric_timestamp
