# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are read by the scripts that source this file
# Shared by deploy_fly.sh and preview_fly_secrets.sh (sourced, never run): the common options,
# fly.toml reading, .env parsing and merging, which keys stay on this machine, secret masking and
# the admin-credential plan. Written for bash 3.2 too (macOS): no associative arrays, and empty
# arrays are expanded as ${a[@]+"${a[@]}"}.
#
# Test hooks: ANOMSTACK_FLY_TOML (another fly.toml), ANOMSTACK_PROFILES_DIR (another profiles/).

DEPLOY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FLY_TOML="${ANOMSTACK_FLY_TOML:-$DEPLOY_ROOT/fly.toml}"
PROFILES_DIR="${ANOMSTACK_PROFILES_DIR:-$DEPLOY_ROOT/profiles}"
VOLUME_NAME="anomstack_data"
DEFAULT_REGION="ord"
DEFAULT_ADMIN_USERNAME="admin"
# shellcheck disable=SC2016 # a literal $
ARGON2ID_PREFIX='$argon2id$'

# Names whose values are never shown (case-insensitive).
SECRET_NAME_PATTERN='PASSWORD|TOKEN|KEY|SECRET|HASH|CREDENTIAL'
# Keys that describe this machine; fly.toml's [env] sets the container's own.
LOCAL_ONLY_KEYS=(
  ANOMSTACK_SQLITE_PATH ANOMSTACK_METRICS_DIR ANOMSTACK_HOST ANOMSTACK_PORT ANOMSTACK_HOME
  ANOMSTACK_DASHBOARD_PORT ANOMSTACK_POSTGRES_FORWARD_PORT DUCKDB_LIB_DIR CARGO_TARGET_DIR
)

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

warn() {
  printf 'warning: %s\n' "$*" >&2
}

# --- Options both scripts take --------------------------------------------------------------

PROFILE=""
ENV_FILE=".env"
ENV_FILE_EXPLICIT=0

# Handles --profile/-p NAME and --env-file PATH at "$1" (also --opt=value). Sets OPT_SHIFT to
# the number of words used, 0 when "$1" is not one of them.
common_option() {
  OPT_SHIFT=0
  case "$1" in
    -p | --profile)
      if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a profile name"; fi
      PROFILE="$2"
      OPT_SHIFT=2
      ;;
    --profile=*)
      PROFILE="${1#*=}"
      OPT_SHIFT=1
      ;;
    --env-file)
      if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a path"; fi
      ENV_FILE="$2"
      ENV_FILE_EXPLICIT=1
      OPT_SHIFT=2
      ;;
    --env-file=*)
      ENV_FILE="${1#*=}"
      ENV_FILE_EXPLICIT=1
      OPT_SHIFT=1
      ;;
  esac
  return 0
}

# --- Small string helpers -------------------------------------------------------------------

# Sets TRIMMED to "$1" without leading and trailing whitespace.
trim() {
  local s="$1"
  s="${s#"${s%%[![:space:]]*}"}"
  s="${s%"${s##*[![:space:]]}"}"
  TRIMMED="$s"
}

# Prints "$1" so that a shell would read it back as one word (plain when it is safe).
shell_word() {
  local s="$1"
  if [[ -n "$s" && "$s" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
    printf '%s' "$s"
  else
    printf "'%s'" "${s//\'/\'\\\'\'}"
  fi
}

# --- fly.toml -------------------------------------------------------------------------------

# Prints the top-level `app = "..."` of fly.toml; fails when there is none.
fly_toml_app() {
  fly_toml_top_level app
}

# Prints the top-level `primary_region = "..."` of fly.toml; fails when there is none.
fly_toml_primary_region() {
  fly_toml_top_level primary_region
}

fly_toml_top_level() {
  local name="$1" line re_dq re_sq
  re_dq="^[[:space:]]*${name}[[:space:]]*=[[:space:]]*\"([^\"]*)\""
  re_sq="^[[:space:]]*${name}[[:space:]]*=[[:space:]]*'([^']*)'"
  [ -f "$FLY_TOML" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    if [[ "$line" =~ ^[[:space:]]*\[ ]]; then
      return 1 # the first table: top-level keys come before it
    fi
    if [[ "$line" =~ $re_dq || "$line" =~ $re_sq ]]; then
      [ -n "${BASH_REMATCH[1]}" ] || return 1
      printf '%s\n' "${BASH_REMATCH[1]}"
      return 0
    fi
  done <"$FLY_TOML"
  return 1
}

# Prints the [env] table of fly.toml as KEY=VALUE lines (simple TOML: one key = value a line).
fly_toml_env() {
  local line in_env=0 key value
  [ -f "$FLY_TOML" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    trim "${line%$'\r'}"
    line="$TRIMMED"
    case "$line" in
      '' | \#*) continue ;;
      \[*)
        if [[ "$line" =~ ^\[[[:space:]]*env[[:space:]]*\] ]]; then in_env=1; else in_env=0; fi
        continue
        ;;
    esac
    [ "$in_env" = 1 ] || continue
    case "$line" in *=*) ;; *) continue ;; esac
    trim "${line%%=*}"
    key="$TRIMMED"
    key="${key#\"}"
    key="${key%\"}"
    trim "${line#*=}"
    value="$TRIMMED"
    case "$value" in
      \"*)
        value="${value#\"}"
        value="${value%%\"*}"
        ;;
      \'*)
        value="${value#\'}"
        value="${value%%\'*}"
        ;;
      *)
        value="${value%%#*}"
        trim "$value"
        value="$TRIMMED"
        ;;
    esac
    printf '%s=%s\n' "$key" "$value"
  done <"$FLY_TOML"
}

# --- The merged environment (.env, then the profile) ----------------------------------------

ENV_KEYS=()
ENV_VALUES=()

# Sets ENV_INDEX to the index of key "$1", or -1.
env_index() {
  local i
  ENV_INDEX=-1
  for ((i = 0; i < ${#ENV_KEYS[@]}; i++)); do
    if [ "${ENV_KEYS[i]}" = "$1" ]; then
      ENV_INDEX="$i"
      return 0
    fi
  done
  return 1
}

env_has() {
  env_index "$1"
}

# Sets ENV_VALUE to the value of "$1"; fails when it is not set.
env_get() {
  ENV_VALUE=""
  env_index "$1" || return 1
  ENV_VALUE="${ENV_VALUES[ENV_INDEX]}"
}

# A later definition replaces the value and keeps the key's first position.
env_set() {
  if env_index "$1"; then
    ENV_VALUES[ENV_INDEX]="$2"
  else
    ENV_KEYS+=("$1")
    ENV_VALUES+=("$2")
  fi
}

env_unset() {
  local keys=() values=() i
  for ((i = 0; i < ${#ENV_KEYS[@]}; i++)); do
    if [ "${ENV_KEYS[i]}" != "$1" ]; then
      keys+=("${ENV_KEYS[i]}")
      values+=("${ENV_VALUES[i]}")
    fi
  done
  ENV_KEYS=(${keys[@]+"${keys[@]}"})
  ENV_VALUES=(${values[@]+"${values[@]}"})
}

# Sets PARSED_VALUE from the text after `=` (already trimmed), as anomstack's own .env reader
# does (src/config/dotenv.rs), so Fly gets what a local run reads: one pair of single quotes
# (kept literally) or double quotes (\n, \t, \" and \\ escapes) is stripped, a `# comment` may
# follow the closing quote; an unquoted value is kept as written (spaces, `=`, `$` and all) up
# to a ` #` comment. Sets PARSE_ERROR and fails on an unterminated quote or text after it.
parse_value() {
  local value="$1" quote rest out="" c i n closed=-1
  PARSED_VALUE=""
  PARSE_ERROR=""
  case "$value" in
    \"* | \'*)
      quote="${value:0:1}"
      rest="${value:1}"
      n="${#rest}"
      for ((i = 0; i < n; i++)); do
        c="${rest:i:1}"
        if [ "$quote" = '"' ] && [ "$c" = "\\" ] && [ $((i + 1)) -lt "$n" ]; then
          i=$((i + 1))
          c="${rest:i:1}"
          case "$c" in
            n) out+=$'\n' ;;
            t) out+=$'\t' ;;
            *) out+="$c" ;;
          esac
          continue
        fi
        if [ "$c" = "$quote" ]; then
          closed="$i"
          break
        fi
        out+="$c"
      done
      if [ "$closed" -lt 0 ]; then
        PARSE_ERROR="unterminated $quote quote"
        return 1
      fi
      trim "${rest:closed+1}"
      case "$TRIMMED" in
        '' | \#*) ;;
        *)
          PARSE_ERROR="unexpected text after the closing quote: $TRIMMED"
          return 1
          ;;
      esac
      PARSED_VALUE="$out"
      ;;
    *)
      case "$value" in *" #"*) value="${value%%" #"*}" ;; esac
      trim "$value"
      PARSED_VALUE="$TRIMMED"
      ;;
  esac
}

# Reads KEY=VALUE lines of "$1" into the merged environment: later definitions win, and an empty
# value unsets the key (empty means unset to anomstack). Dies listing every bad line as file:line.
env_load_file() {
  local file="$1" raw line key line_no=0 errors=()
  local key_re='^[A-Za-z_][A-Za-z0-9_]*$'
  [ -r "$file" ] || die "cannot read $file"
  while IFS= read -r raw || [ -n "$raw" ]; do
    line_no=$((line_no + 1))
    trim "$raw"
    line="$TRIMMED"
    case "$line" in '' | \#*) continue ;; esac
    if [[ "$line" =~ ^export[[:space:]] ]]; then
      trim "${line#export}"
      line="$TRIMMED"
    fi
    case "$line" in
      *=*) ;;
      *)
        errors+=("$file:$line_no: expected KEY=VALUE")
        continue
        ;;
    esac
    trim "${line%%=*}"
    key="$TRIMMED"
    if ! [[ "$key" =~ $key_re ]]; then
      errors+=("$file:$line_no: '$key' is not a variable name (letters, digits and _)")
      continue
    fi
    trim "${line#*=}"
    if ! parse_value "$TRIMMED"; then
      errors+=("$file:$line_no: $PARSE_ERROR")
      continue
    fi
    if [ -z "$PARSED_VALUE" ]; then
      env_unset "$key"
    else
      env_set "$key" "$PARSED_VALUE"
    fi
  done <"$file"
  if [ "${#errors[@]}" -gt 0 ]; then
    printf 'error: %s\n' "${errors[@]}" >&2
    exit 1
  fi
}

# Loads ENV_FILE (a missing default .env is fine, a missing --env-file is not), then
# profiles/PROFILE.env over it. Sets ENV_SOURCES to a description of what was read.
env_load() {
  local profile_file
  ENV_KEYS=()
  ENV_VALUES=()
  ENV_SOURCES=""
  if [ -f "$ENV_FILE" ]; then
    env_load_file "$ENV_FILE"
    ENV_SOURCES="$ENV_FILE"
  elif [ "$ENV_FILE_EXPLICIT" = 1 ]; then
    die "env file not found: $ENV_FILE"
  fi
  if [ -n "$PROFILE" ]; then
    case "$PROFILE" in
      */* | .*) die "bad profile name '$PROFILE': the name of a file in profiles/, without .env" ;;
    esac
    profile_file="$PROFILES_DIR/$PROFILE.env"
    [ -f "$profile_file" ] || die "profile '$PROFILE' not found: $profile_file"
    env_load_file "$profile_file"
    ENV_SOURCES="${ENV_SOURCES:+$ENV_SOURCES, then }$profile_file"
  fi
  [ -n "$ENV_SOURCES" ] || ENV_SOURCES="nothing ($ENV_FILE does not exist and no profile)"
}

# --- What is sent ---------------------------------------------------------------------------

# Whether key "$1" with value "$2" only makes sense on this machine.
is_local_only() {
  local key="$1" value="$2" k
  for k in "${LOCAL_ONLY_KEYS[@]}"; do
    [ "$key" = "$k" ] && return 0
  done
  case "$key" in
    ANOMSTACK_MODEL_PATH)
      case "$value" in local://*) [[ "${value#local://}" != /* ]] && return 0 ;; esac
      ;;
    ANOMSTACK_DUCKDB_PATH)
      case "$value" in /* | md:*) ;; *) return 0 ;; esac
      ;;
  esac
  return 1
}

is_secret_name() {
  local upper
  upper="$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')"
  [[ "$upper" =~ $SECRET_NAME_PATTERN ]]
}

# Prints value "$2" of key "$1" for display, "$3" instead when it must not be shown: secret
# names, and URLs with a password in them (postgres://user:pass@host).
display_value() {
  local url_re='^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@'
  if is_secret_name "$1" || [[ "$2" =~ $url_re ]]; then
    printf '%s' "$3"
  else
    printf '%s' "$2"
  fi
}

SECRET_KEYS=()
SECRET_VALUES=()
SKIPPED_KEYS=()

secret_add() {
  SECRET_KEYS+=("$1")
  SECRET_VALUES+=("$2")
}

# Splits the merged environment into SECRET_KEYS/SECRET_VALUES (sent to Fly) and SKIPPED_KEYS
# (local-only), and plans the admin credentials, which are left out of the secrets for the
# caller to add:
#   ADMIN_SOURCE    hash (ANOMSTACK_ADMIN_PASSWORD_HASH used as is), password (the clear
#                   ANOMSTACK_ADMIN_PASSWORD is hashed, never sent) or generate;
#   ADMIN_HASH, ADMIN_PASSWORD   from the files;
#   ADMIN_USERNAME  ANOMSTACK_ADMIN_USERNAME, default admin (ADMIN_USERNAME_GIVEN=1 when set).
plan_secrets() {
  local i key value
  SECRET_KEYS=()
  SECRET_VALUES=()
  SKIPPED_KEYS=()
  for ((i = 0; i < ${#ENV_KEYS[@]}; i++)); do
    key="${ENV_KEYS[i]}"
    value="${ENV_VALUES[i]}"
    case "$key" in
      ANOMSTACK_ADMIN_USERNAME | ANOMSTACK_ADMIN_PASSWORD | ANOMSTACK_ADMIN_PASSWORD_HASH) continue ;;
    esac
    if is_local_only "$key" "$value"; then
      SKIPPED_KEYS+=("$key")
    else
      secret_add "$key" "$value"
    fi
  done
  ADMIN_HASH=""
  ADMIN_PASSWORD=""
  if env_get ANOMSTACK_ADMIN_PASSWORD_HASH; then
    ADMIN_SOURCE="hash"
    ADMIN_HASH="$ENV_VALUE"
    case "$ADMIN_HASH" in
      "$ARGON2ID_PREFIX"*) ;;
      *) warn "ANOMSTACK_ADMIN_PASSWORD_HASH does not start with \$argon2id\$ (make one with: anomstack hash-password)" ;;
    esac
    if env_has ANOMSTACK_ADMIN_PASSWORD; then
      warn "ANOMSTACK_ADMIN_PASSWORD is ignored (never sent): ANOMSTACK_ADMIN_PASSWORD_HASH is set"
    fi
  elif env_get ANOMSTACK_ADMIN_PASSWORD; then
    ADMIN_SOURCE="password"
    ADMIN_PASSWORD="$ENV_VALUE"
  else
    ADMIN_SOURCE="generate"
  fi
  if env_get ANOMSTACK_ADMIN_USERNAME; then
    ADMIN_USERNAME="$ENV_VALUE"
    ADMIN_USERNAME_GIVEN=1
  else
    ADMIN_USERNAME="$DEFAULT_ADMIN_USERNAME"
    ADMIN_USERNAME_GIVEN=0
  fi
}

# Prints the skipped local-only keys (names only).
print_skipped() {
  if [ "${#SKIPPED_KEYS[@]}" -gt 0 ]; then
    printf 'Skipped local-only keys (fly.toml [env] sets the container'"'"'s own): %s\n' "${SKIPPED_KEYS[*]}"
  else
    printf 'Skipped local-only keys: none\n'
  fi
}
