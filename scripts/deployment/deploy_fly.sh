#!/usr/bin/env bash
# Deploys anomstack to Fly.io: creates the app and its volume when missing, sends the settings of
# the env file (and a profile) as secrets in one staged call, then `fly deploy`s, one release.
# See --help; preview_fly_secrets.sh shows what would be sent without touching Fly.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $(basename "$0") [APP] [options]

Deploys anomstack to Fly.io. APP defaults to the app in fly.toml.

Options:
  -p, --profile NAME   merge profiles/NAME.env over the env file (its values win)
  --env-file PATH      settings to send as secrets (default .env; a missing default is fine)
  --region REGION      region of a new volume (default: primary_region of fly.toml, else $DEFAULT_REGION)
  --machines N         run N machines (default 1); more than one needs a Turso database
  --regions R1,R2      spread the machines over these regions (default: --region); with Turso
  --volume-size GB     size of a new $VOLUME_NAME volume, mounted at /data (default 1)
  --force-rebuild      build the image without the build cache (--no-cache)
  --dry-run            change nothing and need no login: print the fly commands, secrets masked
  -h, --help           this help

Scaling out: with ANOMSTACK_TURSO_DATABASE_URL in the env file, every machine keeps an embedded
replica of the Turso database on its own volume (/data/anomstack-replica.db) and models go to
the database (ANOMSTACK_MODEL_PATH=db://) unless the file names a bucket; without it the app
database is a SQLite file on one volume, and more than one machine is refused.

Admin login: ANOMSTACK_ADMIN_PASSWORD_HASH is sent as is; a clear ANOMSTACK_ADMIN_PASSWORD is
hashed and never sent; with neither, an app that already has a hash keeps it, else a password is
generated, hashed and printed once. Hashing runs 'anomstack hash-password': \$ANOMSTACK_BIN, else
anomstack on PATH, else target/release or target/debug of this repository.
EOF
}

APP=""
REGION=""
REGIONS=""
MACHINES=1
SCALE=0
VOLUME_SIZE=1
FORCE_REBUILD=0
DRY_RUN=0

while [ "$#" -gt 0 ]; do
  common_option "$@"
  if [ "$OPT_SHIFT" -gt 0 ]; then
    shift "$OPT_SHIFT"
    continue
  fi
  case "$1" in
    --region)
      if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "--region needs a region (e.g. $DEFAULT_REGION)"; fi
      REGION="$2"
      shift 2
      ;;
    --region=*)
      REGION="${1#*=}"
      shift
      ;;
    --machines)
      if [ "$#" -lt 2 ]; then die "--machines needs a number"; fi
      MACHINES="$2"
      SCALE=1
      shift 2
      ;;
    --machines=*)
      MACHINES="${1#*=}"
      SCALE=1
      shift
      ;;
    --regions)
      if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "--regions needs regions (e.g. ams,ord)"; fi
      REGIONS="$2"
      SCALE=1
      shift 2
      ;;
    --regions=*)
      REGIONS="${1#*=}"
      SCALE=1
      shift
      ;;
    --volume-size)
      if [ "$#" -lt 2 ]; then die "--volume-size needs a size in GB"; fi
      VOLUME_SIZE="$2"
      shift 2
      ;;
    --volume-size=*)
      VOLUME_SIZE="${1#*=}"
      shift
      ;;
    --force-rebuild)
      FORCE_REBUILD=1
      shift
      ;;
    --dry-run)
      DRY_RUN=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "unknown option: $1 (see --help)" ;;
    *)
      [ -z "$APP" ] || die "unexpected argument: $1 (the app is already '$APP')"
      APP="$1"
      shift
      ;;
  esac
done

[[ "$VOLUME_SIZE" =~ ^[1-9][0-9]*$ ]] || die "--volume-size must be a whole number of GB, not '$VOLUME_SIZE'"
if [ -z "$APP" ]; then
  APP="$(fly_toml_app)" || die "no app name: pass one (deploy_fly.sh APP) or set app = \"...\" in $FLY_TOML"
fi
[[ "$APP" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "'$APP' is not a Fly app name (lowercase letters, digits and -)"
[[ "$MACHINES" =~ ^[1-9][0-9]*$ ]] || die "--machines must be a whole number of machines, not '$MACHINES'"
[ -z "$REGIONS" ] || [[ "$REGIONS" =~ ^[a-z]{3}(,[a-z]{3})*$ ]] || die "--regions takes Fly region codes separated by commas (e.g. ams,ord), not '$REGIONS'"
if [ -z "$REGION" ]; then
  # The first of --regions holds the first machine.
  REGION="${REGIONS%%,*}"
fi
if [ -z "$REGION" ]; then
  REGION="$(fly_toml_primary_region)" || REGION="$DEFAULT_REGION"
fi
[ -n "$REGIONS" ] || REGIONS="$REGION"
case ",$REGIONS," in
  *",$REGION,"*) ;;
  *) die "--region $REGION is not one of --regions $REGIONS: the first machine's volume would be outside them" ;;
esac

# --- fly ------------------------------------------------------------------------------------

FLY_BIN=""
if command -v fly >/dev/null 2>&1; then
  FLY_BIN="fly"
elif command -v flyctl >/dev/null 2>&1; then
  FLY_BIN="flyctl"
elif [ "$DRY_RUN" = 0 ]; then
  die "flyctl is not installed (https://fly.io/docs/flyctl/install/): neither fly nor flyctl is on PATH"
fi

# Prints a fly command as `+ fly ...`, secret values of `secrets set` masked.
print_fly() {
  local masking=0 arg key line="+ fly"
  [ "$#" -ge 2 ] && [ "$1" = "secrets" ] && [ "$2" = "set" ] && masking=1
  for arg in "$@"; do
    if [ "$masking" = 1 ] && [[ "$arg" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
      key="${arg%%=*}"
      arg="$key=$(display_value "$key" "${arg#*=}" '***')"
    fi
    line+=" $(shell_word "$arg")"
  done
  printf '%s\n' "$line"
}

# Runs a fly command that changes something (only printed in a dry run).
run_fly() {
  print_fly "$@"
  [ "$DRY_RUN" = 1 ] && return 0
  "$FLY_BIN" "$@"
}

# Runs a read-only fly command, its output in FLY_OUTPUT (empty in a dry run: "missing").
query_fly() {
  print_fly "$@"
  FLY_OUTPUT=""
  [ "$DRY_RUN" = 1 ] && return 0
  FLY_OUTPUT="$("$FLY_BIN" "$@")" || die "fly $* failed"
}

# --- What is sent ---------------------------------------------------------------------------

env_load
plan_secrets

# --- How many machines, and where --------------------------------------------------------------

TURSO_HOST=""
if env_get ANOMSTACK_TURSO_DATABASE_URL && [ -n "$ENV_VALUE" ]; then
  TURSO_HOST="${ENV_VALUE#*://}"
  TURSO_HOST="${TURSO_HOST%%[/?]*}"
  TURSO_HOST="${TURSO_HOST##*@}"
fi
REGION_COUNT="$(printf '%s' "$REGIONS" | awk -F, '{ print NF }')"
if [ -z "$TURSO_HOST" ] && { [ "$MACHINES" -gt 1 ] || [ "$REGION_COUNT" -gt 1 ]; }; then
  die "--machines $MACHINES --regions $REGIONS: without a Turso database the app database is a SQLite file on one machine's volume, so every other machine would keep a database of its own (different data on each page, every scheduled job run once per machine). Put ANOMSTACK_TURSO_DATABASE_URL and ANOMSTACK_TURSO_AUTH_TOKEN in the env file (README \"Scaling out\"), or deploy one machine."
fi
[ "$MACHINES" -ge "$REGION_COUNT" ] || die "--machines $MACHINES is fewer than the $REGION_COUNT regions of --regions $REGIONS"
MODEL_PATH_ENV=""
if [ -n "$TURSO_HOST" ]; then
  MODEL_PATH_ENV="db://"
  if env_get ANOMSTACK_MODEL_PATH && [ -n "$ENV_VALUE" ]; then
    case "$ENV_VALUE" in
      local://*) [ "$MACHINES" -gt 1 ] && die "ANOMSTACK_MODEL_PATH=$ENV_VALUE keeps models on one machine's volume, where the other machines cannot score with them: use db:// (models in the Turso database) or a bucket (s3://, gs://, az://)" ;;
    esac
    MODEL_PATH_ENV=""
  fi
fi

if [ "$DRY_RUN" = 0 ]; then
  "$FLY_BIN" auth whoami >/dev/null 2>&1 || die "not logged in to Fly.io: run 'fly auth login' (or set FLY_API_TOKEN), then try again"
fi

echo "Deploying app '$APP' (region $REGION) with settings from $ENV_SOURCES"
[ "$DRY_RUN" = 1 ] && echo "Dry run: nothing is changed on Fly."
if [ -n "$TURSO_HOST" ]; then
  echo "Plan: $MACHINES machine(s) in $REGIONS sharing the Turso database $TURSO_HOST."
  echo "  Each runs the dashboard, the scheduler and workers, and keeps an embedded replica of the"
  echo "  database on its own $VOLUME_SIZE GB volume (/data/anomstack-replica.db): pages read it locally,"
  echo "  writes go to Turso, and each scheduled job runs once across all machines."
  [ -n "$MODEL_PATH_ENV" ] && echo "  Models are kept in the database (ANOMSTACK_MODEL_PATH=db://)."
else
  echo "Plan: one machine; the SQLite database and models on its volume."
fi
print_skipped

query_fly apps list
APP_EXISTS=0
if printf '%s\n' "$FLY_OUTPUT" | awk -v app="$APP" '$1 == app { found = 1 } END { exit !found }'; then
  APP_EXISTS=1
fi

# Without credentials in the files, an app that already has a hash keeps it (no new password on
# every deploy).
if [ "$ADMIN_SOURCE" = "generate" ] && [ "$APP_EXISTS" = 1 ]; then
  query_fly secrets list --app "$APP"
  if printf '%s\n' "$FLY_OUTPUT" | awk '$1 == "ANOMSTACK_ADMIN_PASSWORD_HASH" { found = 1 } END { exit !found }'; then
    ADMIN_SOURCE="keep"
  fi
fi

# The hash is made before anything changes on Fly, so a missing binary stops early.
# ANOMSTACK_BIN, else anomstack on PATH, else a build in this repository (release, then debug).
HASH_BIN="${ANOMSTACK_BIN:-anomstack}"
if [ -z "${ANOMSTACK_BIN:-}" ] && ! command -v anomstack >/dev/null 2>&1; then
  target_dir="${CARGO_TARGET_DIR:-target}"
  case "$target_dir" in /*) ;; *) target_dir="$DEPLOY_ROOT/$target_dir" ;; esac
  for candidate in "$target_dir/release/anomstack" "$target_dir/debug/anomstack"; do
    if [ -x "$candidate" ] && [ -f "$candidate" ]; then
      HASH_BIN="$candidate"
      break
    fi
  done
fi
have_hash_bin() {
  case "$HASH_BIN" in
    */*) [ -x "$HASH_BIN" ] && [ -f "$HASH_BIN" ] ;;
    *) command -v "$HASH_BIN" >/dev/null 2>&1 ;;
  esac
}
no_hash_bin_help="build it with 'cargo build --release', then run with ANOMSTACK_BIN=target/release/anomstack (or put ANOMSTACK_ADMIN_PASSWORD_HASH in the env file)"

# Sets ADMIN_HASH to the argon2id hash of "$1"; the password goes through stdin only.
hash_password() {
  local out
  case "$1" in *$'\n'*) die "the admin password must be one line" ;; esac
  have_hash_bin || die "'$HASH_BIN' not found, needed to hash the admin password: $no_hash_bin_help"
  out="$(printf '%s\n' "$1" | "$HASH_BIN" hash-password)" || die "$HASH_BIN hash-password failed"
  out="${out##*$'\n'}"
  case "$out" in
    "$ARGON2ID_PREFIX"*) ADMIN_HASH="$out" ;;
    *) die "$HASH_BIN hash-password did not print an argon2id hash" ;;
  esac
}

GENERATED_PASSWORD=""
case "$ADMIN_SOURCE" in
  hash) echo "Admin: using ANOMSTACK_ADMIN_PASSWORD_HASH as is (user '$ADMIN_USERNAME')." ;;
  keep) echo "Admin: the app already has ANOMSTACK_ADMIN_PASSWORD_HASH; kept (to change it, set ANOMSTACK_ADMIN_PASSWORD in the env file)." ;;
  password)
    if [ "$DRY_RUN" = 1 ]; then
      have_hash_bin || warn "'$HASH_BIN' not found; a real deploy needs it: $no_hash_bin_help"
      echo "Admin: ANOMSTACK_ADMIN_PASSWORD would be hashed; only the hash is sent (user '$ADMIN_USERNAME')."
    else
      hash_password "$ADMIN_PASSWORD"
      echo "Admin: ANOMSTACK_ADMIN_PASSWORD hashed; only the hash is sent (user '$ADMIN_USERNAME')."
    fi
    ;;
  generate)
    if [ "$DRY_RUN" = 1 ]; then
      have_hash_bin || warn "'$HASH_BIN' not found; a real deploy needs it: $no_hash_bin_help"
      echo "Admin: no credentials in the env files: an admin password would be generated, hashed and shown once (user '$ADMIN_USERNAME')."
    else
      GENERATED_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
      hash_password "$GENERATED_PASSWORD"
      echo
      echo "================================================================================"
      echo "  admin user: $ADMIN_USERNAME"
      echo "  admin password (shown once): $GENERATED_PASSWORD"
      echo "  Save it now: only its hash is stored on Fly."
      echo "================================================================================"
      echo
    fi
    ;;
esac
ADMIN_PASSWORD=""

if [ "$ADMIN_SOURCE" != "keep" ] || [ "$ADMIN_USERNAME_GIVEN" = 1 ]; then
  secret_add ANOMSTACK_ADMIN_USERNAME "$ADMIN_USERNAME"
fi
if [ "$ADMIN_SOURCE" != "keep" ]; then
  # In a dry run the hash is not made; its value is masked anyway.
  secret_add ANOMSTACK_ADMIN_PASSWORD_HASH "${ADMIN_HASH:-(hash)}"
fi

# --- Fly ------------------------------------------------------------------------------------

if [ "$APP_EXISTS" = 1 ]; then
  echo "App '$APP' exists."
else
  run_fly apps create "$APP"
fi

query_fly volumes list --app "$APP"
if printf '%s\n' "$FLY_OUTPUT" | awk -v vol="$VOLUME_NAME" '{ for (i = 1; i <= NF; i++) if ($i == vol) found = 1 } END { exit !found }'; then
  echo "Volume '$VOLUME_NAME' exists."
else
  run_fly volumes create "$VOLUME_NAME" --app "$APP" --region "$REGION" --size "$VOLUME_SIZE" --yes
fi

if [ "${#SECRET_KEYS[@]}" -gt 0 ]; then
  secret_args=(secrets set --app "$APP" --stage)
  for ((i = 0; i < ${#SECRET_KEYS[@]}; i++)); do
    secret_args+=("${SECRET_KEYS[i]}=${SECRET_VALUES[i]}")
  done
  run_fly "${secret_args[@]}"
else
  echo "No secrets to set."
fi

build_hash="$(git -C "$DEPLOY_ROOT" rev-parse --short=12 HEAD 2>/dev/null)" || build_hash="unknown"
build_time="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
deploy_args=(deploy --app "$APP"
  --build-arg "ANOMSTACK_BUILD_HASH=$build_hash"
  --build-arg "ANOMSTACK_BUILD_TIME=$build_time")
[ -n "${ANOMSTACK_FLY_TOML:-}" ] && deploy_args+=(--config "$FLY_TOML")
if [ -n "$TURSO_HOST" ]; then
  deploy_args+=(--env "ANOMSTACK_TURSO_REPLICA_PATH=/data/anomstack-replica.db")
  [ -n "$MODEL_PATH_ENV" ] && deploy_args+=(--env "ANOMSTACK_MODEL_PATH=$MODEL_PATH_ENV")
fi
[ "$FORCE_REBUILD" = 1 ] && deploy_args+=(--no-cache)
# fly deploy reads fly.toml and the Dockerfile from the repository root.
(cd "$DEPLOY_ROOT" && run_fly "${deploy_args[@]}")
# Only when asked: a plain redeploy keeps the machines the app has.
if [ -n "$TURSO_HOST" ] && [ "$SCALE" = 1 ]; then
  # Machines (and a volume each) across the regions, as evenly as they go.
  per_region=$(((MACHINES + REGION_COUNT - 1) / REGION_COUNT))
  run_fly scale count "$MACHINES" --app "$APP" --region "$REGIONS" --max-per-region "$per_region" --yes
fi

echo
if [ "$DRY_RUN" = 1 ]; then
  echo "Dry run done: nothing was changed. Once deployed:"
else
  echo "Deployed '$APP'."
fi
echo "  dashboard: https://$APP.fly.dev/"
if [ "$ADMIN_SOURCE" = "keep" ] && [ "$ADMIN_USERNAME_GIVEN" = 0 ]; then
  echo "  admin:     https://$APP.fly.dev/admin"
else
  echo "  admin:     https://$APP.fly.dev/admin (user '$ADMIN_USERNAME')"
fi
if [ -n "$GENERATED_PASSWORD" ]; then
  echo "  (the generated admin password is printed above, once)"
fi
echo "Tips: make fly-status FLY_APP=$APP   make fly-logs FLY_APP=$APP"
