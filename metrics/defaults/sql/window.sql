{#- Building blocks of the default job queries. -#}

{#- Per metric of this batch, the newest `max_n` rows of `metric_type` from the `days` days
    before the run time (at most the run time: backfills never see later data), optionally
    restricted to `include` and without `exclude`. Columns: the long-row shape. Unordered
    (sorting a training window of a million rows costs more than reading it): the jobs group
    rows themselves; add an ORDER BY where order matters.
    Every step is a primary-key seek, so the cost follows the rows returned, not the rows
    stored: the metric names are walked one seek each (a recursive skip scan), each metric's
    oldest wanted timestamp is found by seeking back `max_n` rows from the run time, and its
    rows are read as one key range. -#}
{%- macro newest(metric_type, max_n, days, exclude=[], include=[]) -%}
SELECT m.metric_timestamp, m.metric_name, m.metric_type, m.metric_value, m.metadata
FROM (
  WITH RECURSIVE names(metric_name) AS (
    SELECT min(metric_name) FROM {{ table_key }}
    WHERE metric_batch = {{ metric_batch | sql_quote }} AND metric_type = {{ metric_type | sql_quote }}
    UNION ALL
    SELECT (SELECT min(n.metric_name) FROM {{ table_key }} AS n
            WHERE n.metric_batch = {{ metric_batch | sql_quote }} AND n.metric_type = {{ metric_type | sql_quote }}
              AND n.metric_name > names.metric_name)
    FROM names WHERE names.metric_name IS NOT NULL
  )
  SELECT metric_name,
         (SELECT s.metric_timestamp FROM {{ table_key }} AS s
          WHERE s.metric_batch = {{ metric_batch | sql_quote }} AND s.metric_type = {{ metric_type | sql_quote }}
            AND s.metric_name = names.metric_name AND s.metric_timestamp <= {{ run_ts | sql_quote }}
          ORDER BY s.metric_timestamp DESC LIMIT 1 OFFSET {{ max_n - 1 }}) AS since
  FROM names
  WHERE metric_name IS NOT NULL
    {% if include %}AND metric_name IN {{ include | sql_list }}{% endif %}
    {% if exclude %}AND metric_name NOT IN {{ exclude | sql_list }}{% endif %}
) AS cut
CROSS JOIN {{ table_key }} AS m
WHERE m.metric_batch = {{ metric_batch | sql_quote }}
  AND m.metric_type = {{ metric_type | sql_quote }}
  AND m.metric_name = cut.metric_name
  AND m.metric_timestamp >= max(coalesce(cut.since, ''), datetime({{ run_ts | sql_quote }}, '-{{ days }} days'))
  AND m.metric_timestamp <= {{ run_ts | sql_quote }}
{%- endmacro -%}

{#- Every row of the given types at the (metric, timestamp) pairs of the CTE `window`. The
    window drives the join (CROSS JOIN fixes SQLite's join order), so each of its rows is a
    primary-key lookup rather than a scan of the batch. -#}
{%- macro rows_at(window, types) -%}
SELECT m.metric_timestamp, m.metric_name, m.metric_type, m.metric_value, m.metadata
FROM {{ window }} AS w
CROSS JOIN {{ table_key }} AS m
WHERE m.metric_batch = {{ metric_batch | sql_quote }}
  AND m.metric_type IN {{ types | sql_list }}
  AND m.metric_name = w.metric_name
  AND m.metric_timestamp = w.metric_timestamp
ORDER BY m.metric_name, m.metric_timestamp
{%- endmacro -%}
