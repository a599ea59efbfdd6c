-- Retention: remove this batch's rows (every type) older than {{ delete_after_n_days }} days.
DELETE FROM {{ table_key }}
WHERE metric_batch = {{ metric_batch | sql_quote }}
  AND metric_timestamp < datetime({{ run_ts | sql_quote }}, '-{{ delete_after_n_days }} days')
