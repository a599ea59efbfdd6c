-- LLM alert window: per metric, the newest {{ llmalert_prompt_max_n }} values of the last
-- {{ llmalert_metric_timestamp_max_days_ago }} days with their scores, alerts and earlier LLM alerts.
WITH recent AS (
  SELECT metric_timestamp, metric_name
  FROM (
    SELECT metric_timestamp, metric_name,
           ROW_NUMBER() OVER (PARTITION BY metric_name ORDER BY metric_timestamp DESC) AS recency_rank
    FROM {{ table_key }}
    WHERE metric_batch = {{ metric_batch | sql_quote }}
      AND metric_type = 'metric'
      AND metric_timestamp >= datetime({{ run_ts | sql_quote }}, '-{{ llmalert_metric_timestamp_max_days_ago }} days')
      AND metric_timestamp <= {{ run_ts | sql_quote }}
  )
  WHERE recency_rank <= {{ llmalert_prompt_max_n }}
)
SELECT m.metric_timestamp, m.metric_name, m.metric_type, m.metric_value, m.metadata
FROM {{ table_key }} AS m
JOIN recent AS r ON r.metric_name = m.metric_name AND r.metric_timestamp = m.metric_timestamp
WHERE m.metric_batch = {{ metric_batch | sql_quote }}
  AND m.metric_type IN ('metric', 'score', 'alert', 'llmalert')
ORDER BY m.metric_name, m.metric_timestamp
