#!/usr/bin/env bash
# Generate every secret docker-compose needs into .env (mode 600, git-ignored), once: existing values are kept.
# Usage: deploy/secrets.sh [ENV_FILE]   (default: .env beside docker-compose.yml)
# Prints the API key it makes for the communications team once; only its SHA-256 goes into .env.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_FILE=${1:-$ROOT/.env}
umask 077
touch "$ENV_FILE"
chmod 600 "$ENV_FILE"

has() { grep -q "^$1=." "$ENV_FILE"; }
random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
put() { has "$1" || printf '%s=%s\n' "$1" "$2" >> "$ENV_FILE"; }

for name in POSTGRES_PASSWORD REDIS_PASSWORD BADBUZZ_READER_PASSWORD GRAFANA_ADMIN_PASSWORD BADBUZZ_WEBHOOK_SECRET; do
  put "$name" "$(random)"
done
if ! has BADBUZZ_API_KEYS; then
  key="bbz_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
  put BADBUZZ_API_KEYS "comms:write:$hash"
  echo "API key for the communications team (write; shown once, only its hash is stored): $key"
fi
has BADBUZZ_AM_WEBHOOK_URL || echo "also set BADBUZZ_AM_WEBHOOK_URL in $ENV_FILE: where Alertmanager pages the team" >&2
echo "secrets in $ENV_FILE"
