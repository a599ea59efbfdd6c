#!/bin/sh
# Prints this machine's 1-minute load average and the free space (GiB) of the working
# directory's disk as CSV rows for anomstack's ingest_cmd.
set -eu
ts=$(date -u '+%Y-%m-%d %H:%M:%S')
echo "metric_timestamp,metric_name,metric_value"
if [ -r /proc/loadavg ]; then
  echo "$ts,host_load_1m,$(cut -d' ' -f1 /proc/loadavg)"
fi
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
echo "$ts,host_disk_free_gib,$(awk -v kb="$free_kb" 'BEGIN {printf "%.3f", kb / 1048576}')"
