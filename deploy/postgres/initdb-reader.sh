#!/bin/sh
# Runs once when the compose database is first created (mounted in /docker-entrypoint-initdb.d).
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v reader_password="$BADBUZZ_READER_PASSWORD" \
  -f /etc/badbuzz/reader.sql
