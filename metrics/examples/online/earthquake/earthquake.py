"""Earthquakes of the last day from the USGS GeoJSON feed (no key): how many, the largest and
the mean magnitude."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fetch import base_url, emit, get_json  # noqa: E402

api = base_url("https://earthquake.usgs.gov")
feed = get_json(f"{api}/earthquakes/feed/v1.0/summary/all_day.geojson") or {}
features = [f for f in feed.get("features") or [] if isinstance(f, dict)]
magnitudes = [
    mag
    for mag in ((f.get("properties") or {}).get("mag") for f in features)
    if isinstance(mag, (int, float))
]
emit("earthquake_count", len(features))
if magnitudes:
    emit("earthquake_max_magnitude", max(magnitudes))
    emit("earthquake_avg_magnitude", round(sum(magnitudes) / len(magnitudes), 3))
