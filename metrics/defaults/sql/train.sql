-- Training window: per metric, the newest {{ train_max_n }} values of the last
-- {{ train_metric_timestamp_max_days_ago }} days before the run time.
SELECT metric_timestamp, metric_name, metric_type, metric_value, metadata
FROM (
  SELECT metric_timestamp, metric_name, metric_type, metric_value, metadata,
         ROW_NUMBER() OVER (PARTITION BY metric_name ORDER BY metric_timestamp DESC) AS recency_rank
  FROM {{ table_key }}
  WHERE metric_batch = {{ metric_batch | sql_quote }}
    AND metric_type = 'metric'
    AND metric_timestamp >= datetime({{ run_ts | sql_quote }}, '-{{ train_metric_timestamp_max_days_ago }} days')
    AND metric_timestamp <= {{ run_ts | sql_quote }}
    {% if train_exclude_metrics %}AND metric_name NOT IN {{ train_exclude_metrics | sql_list }}{% endif %}
)
WHERE recency_rank <= {{ train_max_n }}
ORDER BY metric_name, metric_timestamp
