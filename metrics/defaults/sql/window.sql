{#- Building blocks of the default job queries. -#}

{#- Per metric of this batch, the newest `max_n` rows of `metric_type` from the `days` days
    before the run time (at most the run time: backfills never see later data), optionally
    restricted to `include` and without `exclude`. Columns: the long-row shape. -#}
{%- macro newest(metric_type, max_n, days, exclude=[], include=[]) -%}
SELECT metric_timestamp, metric_name, metric_type, metric_value, metadata
FROM (
  SELECT metric_timestamp, metric_name, metric_type, metric_value, metadata,
         ROW_NUMBER() OVER (PARTITION BY metric_name ORDER BY metric_timestamp DESC) AS recency_rank
  FROM {{ table_key }}
  WHERE metric_batch = {{ metric_batch | sql_quote }}
    AND metric_type = {{ metric_type | sql_quote }}
    AND metric_timestamp >= datetime({{ run_ts | sql_quote }}, '-{{ days }} days')
    AND metric_timestamp <= {{ run_ts | sql_quote }}
    {% if include %}AND metric_name IN {{ include | sql_list }}{% endif %}
    {% if exclude %}AND metric_name NOT IN {{ exclude | sql_list }}{% endif %}
)
WHERE recency_rank <= {{ max_n }}
{%- endmacro -%}

{#- Every row of the given types at the (metric, timestamp) pairs of the CTE `window`. -#}
{%- macro rows_at(window, types) -%}
SELECT m.metric_timestamp, m.metric_name, m.metric_type, m.metric_value, m.metadata
FROM {{ table_key }} AS m
JOIN {{ window }} AS w ON w.metric_name = m.metric_name AND w.metric_timestamp = m.metric_timestamp
WHERE m.metric_batch = {{ metric_batch | sql_quote }}
  AND m.metric_type IN {{ types | sql_list }}
ORDER BY m.metric_name, m.metric_timestamp
{%- endmacro -%}
