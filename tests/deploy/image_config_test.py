#!/usr/bin/env python3
"""Checks that fly.toml, the Dockerfile and the binary's defaults agree: ports, paths, the
health check, the volume, the user, and the shutdown timing. Lints the Dockerfile with
hadolint when it is installed. Standard library only; run by tests/deploy/run.sh."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
failures = []


def check(name, ok, detail=""):
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


fly = tomllib.loads((ROOT / "fly.toml").read_text())
docker = (ROOT / "Dockerfile").read_text()
entrypoint = (ROOT / "scripts/docker/entrypoint.sh").read_text()
settings_rs = (ROOT / "src/config/settings.rs").read_text()

# The runtime stage: everything after the last FROM.
runtime = docker[docker.rindex("\nFROM ") :]
env = dict(re.findall(r"(ANOMSTACK_[A-Z_]+)=(\S+)", runtime.split("\nENV ", 1)[1].split("\n\n")[0]))
fly_env = fly.get("env", {})
service = fly["http_service"]
port = int(re.search(r"DEFAULT_PORT: u16 = (\d+);", settings_rs).group(1))

check("the binary's default port is what fly.toml serves", service["internal_port"] == port, f"{service['internal_port']} != {port}")
check("the image exposes that port", f"EXPOSE {port}" in runtime)
check("the image and fly.toml set the same port", env.get("ANOMSTACK_PORT") == str(port) == fly_env.get("ANOMSTACK_PORT"))
for key in ["ANOMSTACK_SQLITE_PATH", "ANOMSTACK_MODEL_PATH", "ANOMSTACK_DUCKDB_PATH", "ANOMSTACK_METRICS_DIR", "ANOMSTACK_HOST"]:
    check(f"{key} is the same in the image and fly.toml", env.get(key) == fly_env.get(key), f"{env.get(key)} != {fly_env.get(key)}")
mount = fly["mounts"]["destination"]
check("the database and models live on the mounted volume", env["ANOMSTACK_SQLITE_PATH"].startswith(mount + "/") and env["ANOMSTACK_MODEL_PATH"] == f"local://{mount}/models")
check("the image declares the volume", f'VOLUME ["{mount}"]' in runtime)
check("the metrics folder is copied where the env points", f"COPY metrics {env['ANOMSTACK_METRICS_DIR']}" in runtime)
checks = service.get("checks", [])
check("fly checks /health over HTTP", any(c.get("path") == "/health" and c.get("method") == "GET" for c in checks))
check("the Docker HEALTHCHECK asks the same server", 'anomstack", "healthcheck"]' in runtime)
check("force_https is on", service.get("force_https") is True)
check("one machine keeps running (the scheduler lives in the server)", service.get("min_machines_running", 0) >= 1)
grace = int(fly_env.get("ANOMSTACK_SHUTDOWN_GRACE_SECONDS", "20"))
kill = int(str(fly.get("kill_timeout", "5s")).rstrip("s"))
check("Fly waits longer than the shutdown grace before SIGKILL", kill > grace, f"kill_timeout {kill}s <= grace {grace}s")
check("the kill signal is SIGTERM, which the server handles", fly.get("kill_signal") == "SIGTERM" and "STOPSIGNAL SIGTERM" in runtime)
check("a non-root user owns the data and runs the server", "useradd --system --uid 10001" in runtime and "--reuid=anomstack" in entrypoint and "chown anomstack:anomstack" in entrypoint)
check("no USER root at the end of the image", not re.search(r"^USER\s+root\s*$", runtime, re.M))
check("build args reach /version", "ARG ANOMSTACK_BUILD_HASH" in docker and "ARG ANOMSTACK_BUILD_TIME" in docker)
check("the build is locked to Cargo.lock", "--locked" in docker)
check("the volume is the one the deploy script creates", fly["mounts"]["source"] == "anomstack_data" and "anomstack_data" in (ROOT / "scripts/deployment/lib.sh").read_text() + (ROOT / "scripts/deployment/deploy_fly.sh").read_text())
vm = fly["vm"][0]
check("a VM size is chosen", vm.get("size") and vm.get("memory"))
ignored = (ROOT / ".dockerignore").read_text().split()
check(".dockerignore keeps build output and secrets out", all(p in ignored for p in ["target", ".env", "tmpdata"]))

hadolint = shutil.which("hadolint") or (ROOT / "tests/.venv/bin/hadolint").exists() and str(ROOT / "tests/.venv/bin/hadolint")
if hadolint:
    # DL3008: apt versions are not pinned on purpose (Debian's security updates).
    result = subprocess.run([hadolint, "--ignore", "DL3008", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    check("hadolint finds nothing", result.returncode == 0, result.stdout + result.stderr)
else:
    print("# hadolint not installed: lint skipped")

sys.exit(1 if failures else 0)
