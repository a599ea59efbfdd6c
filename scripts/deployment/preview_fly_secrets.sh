#!/usr/bin/env bash
# Shows what deploy_fly.sh would send to Fly.io as secrets, read-only and without flyctl: the
# merged settings (secret values masked), the local-only keys it skips, the container settings
# of fly.toml's [env] and what happens to the admin password.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $(basename "$0") [options]

Shows the Fly secrets deploy_fly.sh would set; changes nothing and needs no flyctl.

Options:
  -p, --profile NAME   merge profiles/NAME.env over the env file (its values win)
  --env-file PATH      settings to read (default .env; a missing default is fine)
  -h, --help           this help
EOF
}

MASK='***MASKED***'

while [ "$#" -gt 0 ]; do
  common_option "$@"
  if [ "$OPT_SHIFT" -gt 0 ]; then
    shift "$OPT_SHIFT"
    continue
  fi
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unexpected argument: $1 (see --help)" ;;
  esac
done

env_load
plan_secrets

app="$(fly_toml_app)" || app="(none: no app in $FLY_TOML)"
echo "App (fly.toml): $app"
echo "Settings from: $ENV_SOURCES"

case "$ADMIN_SOURCE" in
  hash) admin_note="ANOMSTACK_ADMIN_PASSWORD_HASH from the env files, used as is" ;;
  password) admin_note="ANOMSTACK_ADMIN_PASSWORD would be hashed at deploy; the clear password is never sent" ;;
  generate) admin_note="an admin password would be generated at deploy, hashed and shown once (kept instead if the app already has ANOMSTACK_ADMIN_PASSWORD_HASH)" ;;
esac
secret_add ANOMSTACK_ADMIN_USERNAME "$ADMIN_USERNAME"
secret_add ANOMSTACK_ADMIN_PASSWORD_HASH "${ADMIN_HASH:-(made at deploy)}"

echo
echo "Secrets that would be set (${#SECRET_KEYS[@]}, in one staged 'fly secrets set'):"
for ((i = 0; i < ${#SECRET_KEYS[@]}; i++)); do
  printf '  %s=%s\n' "${SECRET_KEYS[i]}" "$(display_value "${SECRET_KEYS[i]}" "${SECRET_VALUES[i]}" "$MASK")"
done

echo
print_skipped

echo
echo "Container settings from fly.toml [env] ($FLY_TOML):"
container_env="$(fly_toml_env)"
if [ -n "$container_env" ]; then
  printf '%s\n' "$container_env" | sed 's/^/  /'
else
  echo "  (none)"
fi

echo
if [ "$ADMIN_USERNAME_GIVEN" = 1 ]; then
  echo "Admin user: $ADMIN_USERNAME"
else
  echo "Admin user: $ADMIN_USERNAME (default)"
fi
echo "Admin password: $admin_note"
