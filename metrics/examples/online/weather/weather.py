"""Current weather in a few cities from open-meteo (no key): temperature, precipitation, wind
and cloud cover, named temp_<city>_<field> as in the original example (with open-meteo's
current field names)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fetch import base_url, emit, get_json  # noqa: E402

CITIES = {
    "dublin": (53.35, -6.26),
    "london": (51.51, -0.13),
    "new_york": (40.71, -74.01),
    "sao_paulo": (-23.55, -46.63),
    "tokyo": (35.68, 139.69),
    "sydney": (-33.87, 151.21),
}
FIELDS = ["temperature_2m", "precipitation", "wind_speed_10m", "cloud_cover"]

api = base_url("https://api.open-meteo.com")
for city, (lat, lon) in CITIES.items():
    answer = get_json(
        f"{api}/v1/forecast?latitude={lat}&longitude={lon}&current={','.join(FIELDS)}"
    )
    current = (answer or {}).get("current") or {}
    for field in FIELDS:
        emit(f"temp_{city}_{field}", current.get(field))
