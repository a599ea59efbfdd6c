#!/usr/bin/env bash
# Tests of scripts/deployment/ (deploy_fly.sh, preview_fly_secrets.sh) against a fake flyctl
# (fixtures/fake-fly, which records every call). Prints `ok - name` or `not ok - name` and what
# differed; exits 1 if any test failed.
#
# Usage: tests/deploy/run.sh [SUBSTRING]   (only the tests whose name contains SUBSTRING)
# ANOMSTACK_BIN: the anomstack binary used for `hash-password` (make test-shell sets it);
# default /var/tmp/anomstack-target/debug/anomstack if present, else
# ${CARGO_TARGET_DIR:-target}/debug/anomstack.
# shellcheck disable=SC2016 # literal `$` in single quotes is what many tests check
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FIX="$ROOT/tests/deploy/fixtures"
DEPLOY="$ROOT/scripts/deployment/deploy_fly.sh"
PREVIEW="$ROOT/scripts/deployment/preview_fly_secrets.sh"
FILTER="${1:-}"

if [ -n "${ANOMSTACK_BIN:-}" ]; then
  case "$ANOMSTACK_BIN" in /*) ;; *) ANOMSTACK_BIN="$PWD/$ANOMSTACK_BIN" ;; esac
else
  ANOMSTACK_BIN="${CARGO_TARGET_DIR:-target}/debug/anomstack"
  case "$ANOMSTACK_BIN" in /*) ;; *) ANOMSTACK_BIN="$ROOT/$ANOMSTACK_BIN" ;; esac
fi
if [ ! -x "$ANOMSTACK_BIN" ] || [ ! -f "$ANOMSTACK_BIN" ]; then
  echo "error: no anomstack binary at $ANOMSTACK_BIN (needed for hash-password)." >&2
  echo "Build one with 'cargo build' (or 'make test'), or set ANOMSTACK_BIN to its path." >&2
  exit 2
fi
export ANOMSTACK_BIN

TMP="$(mktemp -d "${TMPDIR:-/tmp}/anomstack-deploy-tests.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/bin"
cp "$FIX/fake-fly" "$TMP/bin/fly"
chmod +x "$TMP/bin/fly"
# Whatever the real environment holds must not leak into the scripts.
unset FAKE_FLY_APPS FAKE_FLY_VOLUMES FAKE_FLY_SECRETS FAKE_FLY_AUTH ANOMSTACK_FLY_TOML ANOMSTACK_PROFILES_DIR

# --- Helpers (run inside a test: T is its folder, the working directory is $T/work) ---------

fail() {
  touch "$T/failed"
  printf '%s\n' "$@"
}

# Compares two texts; prints a unified diff (expected → actual) when they differ.
assert_eq() {
  local what="$1" expected="$2" actual="$3"
  if [ "$expected" != "$actual" ]; then
    fail "$what differs (--- expected, +++ actual):"
    diff -u --label expected --label actual <(printf '%s\n' "$expected") <(printf '%s\n' "$actual")
  fi
}

assert_rc() {
  local expected="$1"
  if [ "$expected" = "nonzero" ]; then
    [ "$RC" -ne 0 ] || { fail "expected a failure, got exit 0; output:"; cat "$T/out"; }
  elif [ "$RC" -ne "$expected" ]; then
    fail "expected exit $expected, got $RC; output:"
    cat "$T/out"
  fi
}

# assert_contains FILE TEXT: TEXT (fixed string) occurs in FILE.
assert_contains() {
  if ! grep -qF -- "$2" "$1"; then
    fail "$(basename "$1") lacks: $2" "--- $(basename "$1"):"
    cat "$1"
  fi
}

assert_not_contains() {
  if grep -qF -- "$2" "$1"; then
    fail "$(basename "$1") must not contain: $2" "--- $(basename "$1"):"
    cat "$1"
  fi
}

deploy() {
  RC=0
  env PATH="$TMP/bin:$PATH" ANOMSTACK_FLY_TOML="$FIX/fly.toml" ANOMSTACK_PROFILES_DIR="$FIX/profiles" \
    "$DEPLOY" "$@" >"$T/out" 2>&1 || RC=$?
}

preview() {
  RC=0
  env PATH="$TMP/bin:$PATH" ANOMSTACK_FLY_TOML="$FIX/fly.toml" ANOMSTACK_PROFILES_DIR="$FIX/profiles" \
    "$PREVIEW" "$@" >"$T/out" 2>&1 || RC=$?
}

# Prints the first two words of every recorded fly call, one call a line.
calls() {
  local line
  local -a words
  while IFS= read -r line; do
    eval "words=($line)"
    printf '%s\n' "${words[*]:0:2}"
  done <"$T/fly.log"
}

count_calls() {
  calls | grep -cxF -- "$1"
}

# Prints the arguments of the first recorded fly call starting with "$1" (two words), one a line.
call_args() {
  local line
  local -a words
  while IFS= read -r line; do
    eval "words=($line)"
    if [ "${words[*]:0:2}" = "$1" ]; then
      printf '%s\n' "${words[@]}"
      return 0
    fi
  done <"$T/fly.log"
  return 1
}

# The value of the NAME=VALUE argument of the `secrets set` call.
secret_arg() {
  call_args "secrets set" | sed -n "s/^$1=//p"
}

# --- Tests ----------------------------------------------------------------------------------

test_values_kept_exactly() {
  deploy --env-file "$FIX/base.env"
  assert_rc 0
  local expected
  expected="$(cat <<'EOF'
secrets
set
--app
anomstack-test
--stage
ANOMSTACK_ALERT_EMAIL=ops@example.com
SPACED_NAME=spaced  value
ANOMSTACK__SIMPLE__INGEST_CRON_SCHEDULE=*/5 * * * *
BASE64_VALUE=abc==
DOLLAR_VALUE=pa$$word $HOME ${USER} `id` \n
DOUBLE_QUOTED=double quoted: $HOME
SINGLE_QUOTED=single quoted: $HOME
JSON_VALUE={"geos": ["eu", "usa"]}
COMMENTED=kept
POUND_IN_VALUE=a#b
ANOMSTACK_TURSO_AUTH_TOKEN=turso-token-value
ANOMSTACK_POSTGRES_URL=postgres://anom:pg-url-secret@db.example.com:5432/anomstack
ANOMSTACK_LOG_FORMAT=text
OVERRIDDEN=from-env
UNSET_BY_PROFILE=from-env
ANOMSTACK_ADMIN_USERNAME=admin
ANOMSTACK_ADMIN_PASSWORD_HASH=<argon2id hash>
EOF
)"
  assert_eq "secrets set arguments" "$expected" \
    "$(call_args "secrets set" | sed 's/^\(ANOMSTACK_ADMIN_PASSWORD_HASH=\)\$argon2id\$v=19\$.*/\1<argon2id hash>/')"
}

test_profile_wins_over_env_file() {
  deploy --env-file "$FIX/base.env" --profile override
  assert_rc 0
  assert_eq "OVERRIDDEN" "from-profile" "$(secret_arg OVERRIDDEN)"
  assert_eq "OVERRIDDEN arguments" "1" "$(call_args "secrets set" | grep -c '^OVERRIDDEN=')"
  assert_eq "PROFILE_ONLY" "yes" "$(secret_arg PROFILE_ONLY)"
  assert_eq "UNSET_BY_PROFILE (emptied by the profile)" "" "$(secret_arg UNSET_BY_PROFILE)"
  assert_eq "ANOMSTACK_ALERT_EMAIL (from .env)" "ops@example.com" "$(secret_arg ANOMSTACK_ALERT_EMAIL)"
  assert_contains "$T/out" "$FIX/profiles/override.env"
}

test_local_only_keys_skipped() {
  deploy --env-file "$FIX/base.env"
  assert_rc 0
  local key
  for key in ANOMSTACK_SQLITE_PATH ANOMSTACK_METRICS_DIR ANOMSTACK_HOST ANOMSTACK_PORT DUCKDB_LIB_DIR \
    CARGO_TARGET_DIR ANOMSTACK_MODEL_PATH ANOMSTACK_DUCKDB_PATH EMPTY_VALUE; do
    if call_args "secrets set" | grep -q "^$key="; then
      fail "$key was sent"
    fi
  done
  assert_contains "$T/out" "Skipped local-only keys (fly.toml [env] sets the container's own): ANOMSTACK_SQLITE_PATH ANOMSTACK_METRICS_DIR ANOMSTACK_HOST ANOMSTACK_PORT DUCKDB_LIB_DIR CARGO_TARGET_DIR ANOMSTACK_MODEL_PATH ANOMSTACK_DUCKDB_PATH"
  assert_not_contains "$T/out" "./tmpdata/anomstack.db"
}

test_relative_model_path_skipped_absolute_kept() {
  deploy --env-file "$FIX/base.env" --profile override
  assert_rc 0
  assert_eq "ANOMSTACK_MODEL_PATH" "local:///data/models" "$(secret_arg ANOMSTACK_MODEL_PATH)"
  assert_eq "ANOMSTACK_DUCKDB_PATH" "md:anomstack" "$(secret_arg ANOMSTACK_DUCKDB_PATH)"
  printf '%s\n' 'ANOMSTACK_MODEL_PATH=local://tmp/models' 'ANOMSTACK_DUCKDB_PATH=/data/x.duckdb' >.env
  : >"$T/fly.log"
  deploy
  assert_rc 0
  assert_eq "ANOMSTACK_MODEL_PATH (local://tmp/models)" "" "$(secret_arg ANOMSTACK_MODEL_PATH)"
  assert_eq "ANOMSTACK_DUCKDB_PATH (absolute)" "/data/x.duckdb" "$(secret_arg ANOMSTACK_DUCKDB_PATH)"
  printf '%s\n' 'ANOMSTACK_MODEL_PATH=s3://bucket/models' >.env
  : >"$T/fly.log"
  deploy
  assert_eq "ANOMSTACK_MODEL_PATH (s3)" "s3://bucket/models" "$(secret_arg ANOMSTACK_MODEL_PATH)"
}

test_comments_export_crlf_and_spaces() {
  printf '%s\r\n' '# a comment' '' '   ' '  # indented comment' 'export EXPORTED=yes' \
    'CRLF_VALUE=no carriage return' 'TRAILING=value   ' '  LEADING  =  x=y  ' >.env
  deploy
  assert_rc 0
  assert_eq "EXPORTED" "yes" "$(secret_arg EXPORTED)"
  assert_eq "CRLF_VALUE" "no carriage return" "$(secret_arg CRLF_VALUE)"
  assert_eq "TRAILING" "value" "$(secret_arg TRAILING)"
  assert_eq "LEADING" "x=y" "$(secret_arg LEADING)"
  assert_eq "keys sent" "EXPORTED CRLF_VALUE TRAILING LEADING ANOMSTACK_ADMIN_USERNAME ANOMSTACK_ADMIN_PASSWORD_HASH" \
    "$(call_args "secrets set" | sed -n 's/=.*//p' | paste -sd ' ' -)"
}

test_one_staged_secrets_call_before_deploy() {
  deploy --env-file "$FIX/base.env" --profile override
  assert_rc 0
  assert_eq "fly calls" "$(printf '%s\n' "auth whoami" "apps list" "apps create" "volumes list" \
    "volumes create" "secrets set" "deploy --app")" "$(calls)"
  assert_eq "secrets set calls" "1" "$(count_calls "secrets set")"
  assert_eq "secrets set options" "$(printf '%s\n' secrets set --app anomstack-test --stage)" \
    "$(call_args "secrets set" | head -n 5)"
}

test_generated_admin_password_shown_once_only_hash_sent() {
  deploy --env-file "$FIX/base.env"
  assert_rc 0
  local password hash
  password="$(sed -n 's/.*admin password (shown once): //p' "$T/out")"
  [[ "$password" =~ ^[A-Za-z0-9_-]{24}$ ]] || fail "no 24-character URL-safe password printed: '$password'"
  assert_eq "times the password is printed" "1" "$(grep -cF -- "$password" "$T/out")"
  assert_not_contains "$T/fly.log" "$password"
  hash="$(secret_arg ANOMSTACK_ADMIN_PASSWORD_HASH)"
  [[ "$hash" == '$argon2id$'* ]] || fail "ANOMSTACK_ADMIN_PASSWORD_HASH is not argon2id: '$hash'"
  assert_eq "ANOMSTACK_ADMIN_USERNAME" "admin" "$(secret_arg ANOMSTACK_ADMIN_USERNAME)"
  if call_args "secrets set" | grep -q '^ANOMSTACK_ADMIN_PASSWORD='; then fail "a clear password was sent"; fi
  # A second deploy of a new app makes another password.
  : >"$T/fly.log"
  cp "$T/out" "$T/out.first"
  deploy --env-file "$FIX/base.env"
  local second
  second="$(sed -n 's/.*admin password (shown once): //p' "$T/out")"
  if [ -z "$second" ] || [ "$second" = "$password" ]; then fail "the second password ('$second') is not a new one"; fi
  [ "$(secret_arg ANOMSTACK_ADMIN_PASSWORD_HASH)" != "$hash" ] || fail "the same hash twice"
}

test_clear_password_hashed_not_sent() {
  deploy --env-file "$FIX/admin-password.env"
  assert_rc 0
  local hash
  hash="$(secret_arg ANOMSTACK_ADMIN_PASSWORD_HASH)"
  [[ "$hash" == '$argon2id$'* ]] || fail "ANOMSTACK_ADMIN_PASSWORD_HASH is not argon2id: '$hash'"
  assert_eq "ANOMSTACK_ADMIN_USERNAME" "ops" "$(secret_arg ANOMSTACK_ADMIN_USERNAME)"
  if call_args "secrets set" | grep -q '^ANOMSTACK_ADMIN_PASSWORD='; then fail "the clear password was sent"; fi
  assert_not_contains "$T/fly.log" 'pa\$\$word'
  assert_not_contains "$T/fly.log" "clear"
  assert_not_contains "$T/out" 'clear pa$$word'
  assert_not_contains "$T/out" "admin password (shown once)"
}

test_existing_hash_passed_through() {
  deploy --env-file "$FIX/admin-hash.env"
  assert_rc 0
  assert_eq "ANOMSTACK_ADMIN_PASSWORD_HASH" \
    '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA' \
    "$(secret_arg ANOMSTACK_ADMIN_PASSWORD_HASH)"
  if call_args "secrets set" | grep -q '^ANOMSTACK_ADMIN_PASSWORD='; then fail "the clear password was sent"; fi
  assert_not_contains "$T/fly.log" "ignored-clear-password"
  assert_not_contains "$T/out" "admin password (shown once)"
}

test_existing_app_hash_kept_without_credentials() {
  export FAKE_FLY_APPS="anomstack-test          personal        deployed        1h ago"
  export FAKE_FLY_SECRETS="ANOMSTACK_ADMIN_PASSWORD_HASH   0123456789abcdef        Deployed"
  deploy --env-file "$FIX/base.env"
  assert_rc 0
  assert_eq "secrets list calls" "1" "$(count_calls "secrets list")"
  assert_not_contains "$T/out" "admin password (shown once)"
  if call_args "secrets set" | grep -q '^ANOMSTACK_ADMIN_'; then fail "admin credentials were sent"; fi
  assert_contains "$T/out" "already has ANOMSTACK_ADMIN_PASSWORD_HASH"
}

test_app_and_volume_created_when_missing() {
  deploy --env-file "$FIX/base.env"
  assert_rc 0
  assert_eq "apps create" "$(printf '%s\n' apps create anomstack-test)" "$(call_args "apps create")"
  assert_eq "volumes create" \
    "$(printf '%s\n' volumes create anomstack_data --app anomstack-test --region ams --size 1 --yes)" \
    "$(call_args "volumes create")"
  : >"$T/fly.log"
  deploy my-app --env-file "$FIX/base.env" --region ord --volume-size 3
  assert_rc 0
  assert_eq "volumes create (options)" \
    "$(printf '%s\n' volumes create anomstack_data --app my-app --region ord --size 3 --yes)" \
    "$(call_args "volumes create")"
}

test_app_and_volume_not_created_when_present() {
  export FAKE_FLY_APPS="anomstack-test          personal        deployed        1h ago"
  export FAKE_FLY_VOLUMES="vol_4y5jg3o0gz9v      created anomstack_data  1GB     ams     a1b2    true    91857492b34e86  1h ago"
  deploy --env-file "$FIX/admin-hash.env"
  assert_rc 0
  assert_eq "fly calls" "$(printf '%s\n' "auth whoami" "apps list" "volumes list" "secrets set" "deploy --app")" "$(calls)"
}

test_app_name_matched_whole() {
  # Another app whose name contains this one, and this name in another column: still missing.
  FAKE_FLY_APPS="$(printf '%s\n' "anomstack-test-old      personal        deployed        1h ago" \
    "other                   anomstack-test  suspended       2d ago")"
  export FAKE_FLY_APPS
  export FAKE_FLY_VOLUMES="vol_1 created anomstack_data_old 1GB ams a1b2 true - 1h ago"
  deploy --env-file "$FIX/admin-hash.env"
  assert_rc 0
  assert_eq "apps create calls" "1" "$(count_calls "apps create")"
  assert_eq "volumes create calls" "1" "$(count_calls "volumes create")"
}

test_deploy_build_args_and_force_rebuild() {
  deploy --env-file "$FIX/admin-hash.env"
  assert_rc 0
  local args build_hash
  args="$(call_args "deploy --app")"
  build_hash="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  assert_eq "deploy arguments" \
    "$(printf '%s\n' deploy --app anomstack-test --build-arg "ANOMSTACK_BUILD_HASH=$build_hash" \
      --build-arg "ANOMSTACK_BUILD_TIME=<time>" --config "$FIX/fly.toml")" \
    "$(printf '%s\n' "$args" | sed 's/^ANOMSTACK_BUILD_TIME=[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$/ANOMSTACK_BUILD_TIME=<time>/')"
  assert_contains "$T/out" "https://anomstack-test.fly.dev/"
  assert_contains "$T/out" "https://anomstack-test.fly.dev/admin"
  assert_contains "$T/out" "make fly-status"
  assert_contains "$T/out" "make fly-logs"
  : >"$T/fly.log"
  deploy --env-file "$FIX/admin-hash.env" --force-rebuild
  assert_rc 0
  assert_eq "--no-cache" "--no-cache" "$(call_args "deploy --app" | tail -n 1)"
}

test_app_argument_overrides_fly_toml() {
  deploy my-app --env-file "$FIX/admin-hash.env"
  assert_rc 0
  if grep -q 'anomstack-test' "$T/fly.log"; then fail "the fly.toml app was used:"; cat "$T/fly.log"; fi
  assert_eq "secrets set --app" "my-app" "$(call_args "secrets set" | sed -n 4p)"
  assert_contains "$T/out" "https://my-app.fly.dev/admin"
}

test_dry_run_runs_no_fly_and_masks() {
  export FAKE_FLY_AUTH=fail
  deploy --env-file "$FIX/base.env" --profile override --dry-run
  assert_rc 0
  assert_eq "fly log" "" "$(cat "$T/fly.log")"
  assert_eq "printed fly commands" \
    "$(printf '%s\n' "+ fly apps list" "+ fly apps create" "+ fly volumes list" "+ fly volumes create" \
      "+ fly secrets set" "+ fly deploy")" \
    "$(grep '^+ fly' "$T/out" | cut -d ' ' -f 1-4 | sed 's/ --app$//')"
  assert_contains "$T/out" "+ fly volumes create anomstack_data --app anomstack-test --region ams --size 1 --yes"
  assert_contains "$T/out" "'ANOMSTACK_TURSO_AUTH_TOKEN=***'"
  assert_contains "$T/out" "'ANOMSTACK_POSTGRES_URL=***'"
  assert_contains "$T/out" "'ANOMSTACK_ADMIN_PASSWORD_HASH=***'"
  assert_contains "$T/out" " ANOMSTACK_ALERT_EMAIL=ops@example.com "
  assert_contains "$T/out" "'ANOMSTACK__SIMPLE__INGEST_CRON_SCHEDULE=*/5 * * * *'"
  assert_contains "$T/out" "an admin password would be generated"
  assert_not_contains "$T/out" "turso-token-value"
  assert_not_contains "$T/out" "pg-url-secret"
  assert_not_contains "$T/out" "admin password (shown once)"
  assert_not_contains "$T/out" 'argon2id$'
  deploy --env-file "$FIX/admin-password.env" --dry-run
  assert_rc 0
  assert_not_contains "$T/out" "pa\$\$word"
  deploy --env-file "$FIX/admin-hash.env" --dry-run
  assert_rc 0
  assert_not_contains "$T/out" "c2FsdHNhbHRzYWx0"
  assert_eq "fly log" "" "$(cat "$T/fly.log")"
}

test_dry_run_needs_no_fly() {
  if PATH=/usr/bin:/bin command -v fly >/dev/null 2>&1 || PATH=/usr/bin:/bin command -v flyctl >/dev/null 2>&1; then
    echo "skipped: a real flyctl is in /usr/bin or /bin"
    return 0
  fi
  RC=0
  env PATH=/usr/bin:/bin ANOMSTACK_FLY_TOML="$FIX/fly.toml" "$DEPLOY" --env-file "$FIX/admin-hash.env" --dry-run \
    >"$T/out" 2>&1 || RC=$?
  assert_rc 0
  assert_contains "$T/out" "+ fly deploy --app anomstack-test"
  RC=0
  env PATH=/usr/bin:/bin ANOMSTACK_FLY_TOML="$FIX/fly.toml" "$DEPLOY" --env-file "$FIX/admin-hash.env" \
    >"$T/out" 2>&1 || RC=$?
  assert_rc nonzero
  assert_contains "$T/out" "neither fly nor flyctl is on PATH"
}

test_not_logged_in_is_an_error() {
  export FAKE_FLY_AUTH=fail
  deploy --env-file "$FIX/admin-hash.env"
  assert_rc nonzero
  assert_contains "$T/out" "not logged in to Fly.io: run 'fly auth login'"
  assert_eq "fly calls" "auth whoami" "$(calls)"
}

test_missing_hash_binary_stops_before_changes() {
  ANOMSTACK_BIN="$T/no-such-anomstack" deploy --env-file "$FIX/base.env"
  assert_rc nonzero
  assert_contains "$T/out" "cargo build --release"
  assert_contains "$T/out" "ANOMSTACK_BIN=target/release/anomstack"
  assert_eq "fly calls" "$(printf '%s\n' "auth whoami" "apps list")" "$(calls)"
}

test_preview_masks_secret_names() {
  preview --env-file "$FIX/secrets.env"
  assert_rc 0
  local line
  for line in 'APP_PASSWORD=***MASKED***' 'API_TOKEN=***MASKED***' 'SIGNING_KEY=***MASKED***' \
    'CLIENT_SECRET=***MASKED***' 'GOOGLE_CREDENTIALS=***MASKED***' 'lower_case_password=***MASKED***' \
    'DB_URL=***MASKED***' 'ANOMSTACK_ADMIN_PASSWORD_HASH=***MASKED***' 'PLAIN_SETTING=visible-value' \
    'ANOMSTACK_ADMIN_USERNAME=admin'; do
    assert_contains "$T/out" "  $line"
  done
  for line in pw-value-1 token-value-2 key-value-3 secret-value-4 credential-value-5 lower-value-6 url-pass-7; do
    assert_not_contains "$T/out" "$line"
  done
  assert_contains "$T/out" "an admin password would be generated"
  assert_eq "fly log" "" "$(cat "$T/fly.log")"
}

test_preview_full_output() {
  preview --env-file "$FIX/base.env" --profile override
  assert_rc 0
  local expected
  expected="$(cat <<EOF
App (fly.toml): anomstack-test
Settings from: $FIX/base.env, then $FIX/profiles/override.env

Secrets that would be set (19, in one staged 'fly secrets set'):
  ANOMSTACK_MODEL_PATH=local:///data/models
  ANOMSTACK_DUCKDB_PATH=md:anomstack
  ANOMSTACK_ALERT_EMAIL=ops@example.com
  SPACED_NAME=spaced  value
  ANOMSTACK__SIMPLE__INGEST_CRON_SCHEDULE=*/5 * * * *
  BASE64_VALUE=abc==
  DOLLAR_VALUE=pa\$\$word \$HOME \${USER} \`id\` \\n
  DOUBLE_QUOTED=double quoted: \$HOME
  SINGLE_QUOTED=single quoted: \$HOME
  JSON_VALUE={"geos": ["eu", "usa"]}
  COMMENTED=kept
  POUND_IN_VALUE=a#b
  ANOMSTACK_TURSO_AUTH_TOKEN=***MASKED***
  ANOMSTACK_POSTGRES_URL=***MASKED***
  ANOMSTACK_LOG_FORMAT=text
  OVERRIDDEN=from-profile
  PROFILE_ONLY=yes
  ANOMSTACK_ADMIN_USERNAME=admin
  ANOMSTACK_ADMIN_PASSWORD_HASH=***MASKED***

Skipped local-only keys (fly.toml [env] sets the container's own): ANOMSTACK_SQLITE_PATH ANOMSTACK_METRICS_DIR ANOMSTACK_HOST ANOMSTACK_PORT DUCKDB_LIB_DIR CARGO_TARGET_DIR

Container settings from fly.toml [env] ($FIX/fly.toml):
  ANOMSTACK_HOST=0.0.0.0
  ANOMSTACK_PORT=8080
  ANOMSTACK_SQLITE_PATH=/data/anomstack.db
  ANOMSTACK_METRICS_DIR=/app/metrics
  ANOMSTACK_LOG_FORMAT=json

Admin user: admin (default)
Admin password: an admin password would be generated at deploy, hashed and shown once (kept instead if the app already has ANOMSTACK_ADMIN_PASSWORD_HASH)
EOF
)"
  assert_eq "preview output" "$expected" "$(cat "$T/out")"
}

test_preview_admin_modes() {
  preview --env-file "$FIX/admin-password.env"
  assert_rc 0
  assert_contains "$T/out" "ANOMSTACK_ADMIN_PASSWORD would be hashed at deploy"
  assert_contains "$T/out" "Admin user: ops"
  assert_not_contains "$T/out" 'clear pa$$word'
  assert_not_contains "$T/out" "ANOMSTACK_ADMIN_PASSWORD="
  preview --env-file "$FIX/admin-hash.env"
  assert_rc 0
  assert_contains "$T/out" "ANOMSTACK_ADMIN_PASSWORD_HASH from the env files, used as is"
  assert_not_contains "$T/out" "c2FsdHNhbHRzYWx0"
  assert_not_contains "$T/out" "ignored-clear-password"
}

test_bad_line_reports_file_and_line() {
  deploy --env-file "$FIX/bad.env"
  assert_rc nonzero
  assert_contains "$T/out" "error: $FIX/bad.env:3: expected KEY=VALUE"
  assert_eq "fly log" "" "$(cat "$T/fly.log")"
  preview --env-file "$FIX/bad.env"
  assert_rc nonzero
  assert_contains "$T/out" "error: $FIX/bad.env:3: expected KEY=VALUE"
  printf '%s\n' 'OK=1' '1BAD=x' 'BAD-KEY=y' "OPEN='unterminated" 'AFTER="x" y' >.env
  preview
  assert_rc nonzero
  assert_contains "$T/out" ".env:2: '1BAD' is not a variable name"
  assert_contains "$T/out" ".env:3: 'BAD-KEY' is not a variable name"
  assert_contains "$T/out" ".env:4: unterminated ' quote"
  assert_contains "$T/out" ".env:5: unexpected text after the closing quote: y"
}

test_missing_profile_is_an_error() {
  deploy --env-file "$FIX/base.env" --profile nope
  assert_rc nonzero
  assert_contains "$T/out" "profile 'nope' not found: $FIX/profiles/nope.env"
  assert_eq "fly log" "" "$(cat "$T/fly.log")"
  preview -p nope
  assert_rc nonzero
  assert_contains "$T/out" "profile 'nope' not found"
  preview -p ../base
  assert_rc nonzero
  assert_contains "$T/out" "bad profile name"
}

test_env_file_default_and_missing() {
  deploy --env-file "$T/absent.env"
  assert_rc nonzero
  assert_contains "$T/out" "env file not found: $T/absent.env"
  # No .env in the working directory: fine, only the admin credentials are sent.
  deploy
  assert_rc 0
  assert_eq "keys sent" "ANOMSTACK_ADMIN_USERNAME ANOMSTACK_ADMIN_PASSWORD_HASH" \
    "$(call_args "secrets set" | sed -n 's/=.*//p' | paste -sd ' ' -)"
  # A .env in the working directory is read by default.
  printf '%s\n' 'FROM_DEFAULT=1' >.env
  : >"$T/fly.log"
  deploy --dry-run
  assert_rc 0
  assert_contains "$T/out" " FROM_DEFAULT=1 "
}

test_more_machines_refused_without_turso() {
  deploy --env-file "$FIX/admin-hash.env" --machines 3
  assert_rc nonzero
  assert_contains "$T/out" "without a Turso database the app database is a SQLite file on one machine's volume"
  assert_contains "$T/out" "ANOMSTACK_TURSO_DATABASE_URL"
  assert_eq "nothing changed" "" "$(calls | grep -v -e '^auth whoami$' -e '^apps list$' || true)"
  deploy --env-file "$FIX/admin-hash.env" --regions ams,ord --dry-run
  assert_rc nonzero
  assert_contains "$T/out" "--regions ams,ord: without a Turso database"
  deploy --env-file "$FIX/turso.env" --machines 1 --regions ams,ord,syd --dry-run
  assert_rc nonzero
  assert_contains "$T/out" "fewer than the 3 regions"
  deploy --env-file "$FIX/admin-hash.env" --machines two --dry-run
  assert_rc nonzero
  assert_contains "$T/out" "--machines must be a whole number"
}

test_turso_machines_across_regions_each_with_a_replica() {
  deploy --env-file "$FIX/turso.env" --machines 3 --regions ams,ord
  assert_rc 0
  assert_contains "$T/out" "Plan: 3 machine(s) in ams,ord sharing the Turso database anomstack-ops.turso.io."
  assert_contains "$T/out" "each scheduled job runs once across all machines"
  assert_not_contains "$T/out" "turso-secret"
  assert_eq "first volume in the first region" \
    "$(printf '%s\n' volumes create anomstack_data --app anomstack-test --region ams --size 1 --yes)" \
    "$(call_args "volumes create")"
  local deploy_call
  deploy_call="$(call_args "deploy --app")"
  assert_eq "replica on the volume, models in the database" "yes yes" \
    "$(printf '%s\n' "$deploy_call" | grep -qx 'ANOMSTACK_TURSO_REPLICA_PATH=/data/anomstack-replica.db' && echo yes) $(printf '%s\n' "$deploy_call" | grep -qx 'ANOMSTACK_MODEL_PATH=db://' && echo yes)"
  assert_eq "machines spread over the regions" \
    "$(printf '%s\n' scale count 3 --app anomstack-test --region ams,ord --max-per-region 2 --yes)" \
    "$(call_args "scale count")"
  assert_eq "order" "deploy --app
scale count" "$(calls | grep -e '^deploy' -e '^scale' | sed 's/^deploy.*/deploy --app/')"
  # A bucket for models is kept; models on one volume are refused for several machines.
  printf 'ANOMSTACK_MODEL_PATH=s3://models/anomstack\n' | cat "$FIX/turso.env" - >"$T/bucket.env"
  : >"$T/fly.log"
  deploy --env-file "$T/bucket.env" --machines 2 --dry-run
  assert_rc 0
  assert_not_contains "$T/out" "ANOMSTACK_MODEL_PATH=db://"
  printf 'ANOMSTACK_MODEL_PATH=local:///data/models\n' | cat "$FIX/turso.env" - >"$T/local.env"
  deploy --env-file "$T/local.env" --machines 2 --dry-run
  assert_rc nonzero
  assert_contains "$T/out" "keeps models on one machine's volume"
  # A redeploy without --machines keeps the machines the app has.
  : >"$T/fly.log"
  deploy --env-file "$FIX/turso.env"
  assert_rc 0
  assert_eq "no scaling" "0" "$(count_calls "scale count")"
  deploy --env-file "$FIX/turso.env" --machines 2 --region syd --regions ams,ord --dry-run
  assert_rc nonzero
  assert_contains "$T/out" "--region syd is not one of --regions ams,ord"
  # One machine without Turso: as before, and the plan says so.
  deploy --env-file "$FIX/admin-hash.env" --dry-run
  assert_rc 0
  assert_contains "$T/out" "Plan: one machine; the SQLite database and models on its volume."
  assert_not_contains "$T/out" "+ fly scale count"
}

test_bad_options() {
  deploy --volume-size big --dry-run
  assert_rc nonzero
  assert_contains "$T/out" "--volume-size must be a whole number"
  deploy --frobnicate
  assert_rc nonzero
  assert_contains "$T/out" "unknown option: --frobnicate"
  deploy Bad_App --dry-run
  assert_rc nonzero
  assert_contains "$T/out" "is not a Fly app name"
  RC=0
  env ANOMSTACK_FLY_TOML="$T/none.toml" "$DEPLOY" --dry-run >"$T/out" 2>&1 || RC=$?
  assert_rc nonzero
  assert_contains "$T/out" "no app name"
  deploy --help
  assert_rc 0
  assert_contains "$T/out" "Usage: deploy_fly.sh [APP]"
  preview --help
  assert_rc 0
  assert_contains "$T/out" "Usage: preview_fly_secrets.sh"
}

test_shipped_profiles() {
  RC=0
  env ANOMSTACK_FLY_TOML="$FIX/fly.toml" "$PREVIEW" --profile demo >"$T/out" 2>&1 || RC=$?
  assert_rc 0
  assert_contains "$T/out" "  ANOMSTACK_PUBLIC_FEEDBACK=true"
  assert_contains "$T/out" "  ANOMSTACK_IGNORE_EXAMPLES=no"
  RC=0
  env ANOMSTACK_FLY_TOML="$FIX/fly.toml" "$PREVIEW" --profile production >"$T/out" 2>&1 || RC=$?
  assert_rc 0
  assert_contains "$T/out" "  ANOMSTACK_PUBLIC_FEEDBACK=false"
  assert_contains "$T/out" "  ANOMSTACK_IGNORE_EXAMPLES=yes"
}

test_image_and_fly_config_agree() {
  # fly.toml, the Dockerfile and the binary's defaults (and hadolint, from tests/.venv).
  PATH="$ROOT/tests/.venv/bin:$PATH" python3 "$ROOT/tests/deploy/image_config_test.py" \
    || fail "image_config_test.py"
}

test_config_reference_reads_every_construct() {
  # Sections (a two-line heading split into heading and paragraph, never an empty table),
  # "as above" only for a key right after another, examples as code, folded strings,
  # mappings and lists as YAML flow, and comments inside a mapping as notes on its keys.
  python3 "$ROOT/scripts/config_reference.py" "$FIX/reference.yaml" >"$T/ref.md" 2>&1 \
    || fail "config_reference.py on the fixture"
  diff -u "$FIX/reference.md" "$T/ref.md" || fail "the reference of the fixture differs"
  local generated
  generated=$(python3 "$ROOT/scripts/config_reference.py")
  if grep -q '| `>` |' <<<"$generated"; then fail "a folded default shows as >"; fi
  if grep -Pzq '\|---\|---\|---\|\n\n\*\*' <<<"$generated"; then fail "an empty table"; fi
}

test_readme_config_reference_is_current() {
  python3 "$ROOT/scripts/config_reference.py" --check "$ROOT/README.md" || fail "run make docs"
}

test_scripts_parse_and_shellcheck() {
  local script
  for script in "$ROOT"/scripts/deployment/*.sh "$ROOT/tests/deploy/run.sh" "$FIX/fake-fly"; do
    bash -n "$script" || fail "bash -n $script"
  done
  for script in "$DEPLOY" "$PREVIEW" "$ROOT/tests/deploy/run.sh"; do
    [ -x "$script" ] || fail "$script is not executable"
  done
  if command -v shellcheck >/dev/null 2>&1; then
    shellcheck -x "$ROOT"/scripts/deployment/*.sh "$ROOT/tests/deploy/run.sh" "$FIX/fake-fly" || fail "shellcheck"
  else
    echo "shellcheck is not installed: skipped"
  fi
}

# --- Runner ---------------------------------------------------------------------------------

failures=0
count=0
while IFS= read -r fn; do
  name="${fn#test_}"
  name="${name//_/ }"
  case "$name" in *"$FILTER"*) ;; *) continue ;; esac
  count=$((count + 1))
  T="$TMP/t$count"
  mkdir -p "$T/work"
  : >"$T/fly.log"
  (
    cd "$T/work" || exit 1
    export T FAKE_FLY_LOG="$T/fly.log"
    "$fn"
  ) >"$T/result" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ] && [ ! -e "$T/failed" ]; then
    echo "ok - $name"
    grep -q 'skipped' "$T/result" && sed 's/^/#   /' "$T/result"
  else
    echo "not ok - $name"
    [ "$rc" -eq 0 ] || [ -e "$T/failed" ] || echo "#   (the test exited $rc)"
    sed 's/^/#   /' "$T/result"
    failures=$((failures + 1))
  fi
done < <(sed -n 's/^\(test_[a-z0-9_]*\)() {$/\1/p' "${BASH_SOURCE[0]}")

echo "# $((count - failures))/$count passed"
[ "$count" -gt 0 ] || { echo "# no test matches '$FILTER'"; exit 1; }
[ "$failures" -eq 0 ]
