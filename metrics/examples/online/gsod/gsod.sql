-- Average, lowest and highest daily temperature (°F) over US weather stations, five days ago
-- (NOAA's Global Surface Summary of the Day needs a few days to fill in). 9999.9 marks a
-- missing reading.
WITH day AS (
  SELECT NULLIF(g.temp, 9999.9) AS temp, NULLIF(g.min, 9999.9) AS low, NULLIF(g.max, 9999.9) AS high
  FROM `bigquery-public-data.noaa_gsod.gsod*` AS g
  JOIN `bigquery-public-data.noaa_gsod.stations` AS s ON g.stn = s.usaf AND g.wban = s.wban
  WHERE g._TABLE_SUFFIX = FORMAT_DATE('%Y', DATE_SUB(CURRENT_DATE(), INTERVAL 5 DAY))
    AND g.date = DATE_SUB(CURRENT_DATE(), INTERVAL 5 DAY)
    AND s.country = 'US'
)
SELECT TIMESTAMP(DATE_SUB(CURRENT_DATE(), INTERVAL 5 DAY)) AS metric_timestamp,
       'gsod_us_temp_avg' AS metric_name, ROUND(AVG(temp), 2) AS metric_value FROM day
UNION ALL
SELECT TIMESTAMP(DATE_SUB(CURRENT_DATE(), INTERVAL 5 DAY)), 'gsod_us_temp_min', MIN(low) FROM day
UNION ALL
SELECT TIMESTAMP(DATE_SUB(CURRENT_DATE(), INTERVAL 5 DAY)), 'gsod_us_temp_max', MAX(high) FROM day
