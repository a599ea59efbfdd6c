"""Shared by the online examples: fetch JSON over HTTPS with the standard library only, and
print metric rows as JSON lines for anomstack's ingest_cmd.

Every example takes its API's base URL as its first argument, so it can point at a mirror, a
proxy or (in anomstack's tests) a local server that answers like the real API.
"""

import json
import math
import os
import sys
import urllib.request
from datetime import datetime, timezone

TIMEOUT_SECONDS = 20


def base_url(default):
    """The API base URL: the first argument, else the public service."""
    return (sys.argv[1] if len(sys.argv) > 1 else default).rstrip("/")


def get_json(url, headers=None):
    request = urllib.request.Request(
        url, headers={"User-Agent": "anomstack-example", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return json.load(response)


def run_ts():
    """The run's logical time (anomstack sets ANOMSTACK_RUN_TS), else now in UTC."""
    return os.environ.get("ANOMSTACK_RUN_TS") or datetime.now(timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def emit(name, value, timestamp=None):
    """One metric row; values that are missing, not numbers, NaN or infinite are skipped."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return
    row = {"metric_timestamp": timestamp or run_ts(), "metric_name": name, "metric_value": value}
    print(json.dumps(row))
