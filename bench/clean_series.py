#!/usr/bin/env python3
"""Six 4,000-point series without anomalies (5-minute steps), for counting false alarms:
white noise, a daily season, a season on a trend, a slow and a fast trend, and a counter.

    python3 bench/clean_series.py /tmp/clean
    anomstack backtest /tmp/clean --output /tmp/clean-out
    for f in /tmp/clean-out/*.csv; do echo "$f $(awk -F, 'NR>600 && $4==1' $f | wc -l)"; done
"""
import datetime
import math
import os
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "clean"
os.makedirs(out, exist_ok=True)
random.seed(1)
t0 = datetime.datetime(2024, 1, 1)


def write(name, f, n=4000):
    with open(os.path.join(out, name), "w") as fh:
        fh.write("timestamp,value\n")
        for i in range(n):
            ts = (t0 + datetime.timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")
            fh.write(f"{ts},{f(i):.5f}\n")


write("trend_slow.csv", lambda i: 100 + 0.01 * i + random.gauss(0, 1))
write("trend_fast.csv", lambda i: 100 + 0.2 * i + random.gauss(0, 1))
write("counter.csv", lambda i: 1000 + 5 * i + random.gauss(0, 0.5))
write("noise.csv", lambda i: 100 + random.gauss(0, 1))
write("seasonal.csv", lambda i: 100 + 10 * math.sin(2 * math.pi * i / 288) + random.gauss(0, 1))
write("seasonal_trend.csv",
      lambda i: 100 + 0.02 * i + 10 * math.sin(2 * math.pi * i / 288) + random.gauss(0, 1))
