{%- from "./examples/uniform.sql" import uniform -%}
-- Per region: total users (two draws of 0-100 summed), active users (two of 0-25) and the rate.
WITH
{%- for geo in vars.geos %}
region_{{ loop.index }} AS MATERIALIZED (
  SELECT 100 * {{ uniform() }} + 100 * {{ uniform() }} AS total,
         25 * {{ uniform() }} + 25 * {{ uniform() }} AS active
){{ "," if not loop.last }}
{%- endfor %}
{%- for geo in vars.geos %}
{% if not loop.first %}UNION ALL
{% endif -%}
SELECT {{ run_ts | sql_quote }} AS metric_timestamp, 'users_total_{{ geo }}' AS metric_name, total AS metric_value FROM region_{{ loop.index }}
UNION ALL
SELECT {{ run_ts | sql_quote }}, 'users_active_{{ geo }}', active FROM region_{{ loop.index }}
UNION ALL
SELECT {{ run_ts | sql_quote }}, 'users_active_rate_{{ geo }}', active / NULLIF(total, 0) FROM region_{{ loop.index }}
{%- endfor %}
