#!/bin/sh
# Runs the command as the unprivileged `anomstack` user. Started as root (the default in the
# image), it first gives /data to that user: volumes (Fly's, Docker's named ones) are mounted
# owned by root, and the server must write its database and models there.
set -eu
if [ "$(id -u)" = "0" ]; then
  for dir in /data /data/models; do
    mkdir -p "$dir"
    if [ "$(stat -c %u "$dir")" != "10001" ]; then
      chown anomstack:anomstack "$dir"
    fi
  done
  exec setpriv --reuid=anomstack --regid=anomstack --init-groups -- "$@"
fi
exec "$@"
