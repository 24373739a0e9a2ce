-- The read-only role for Grafana and any other reader (psql -v reader_password=... -f reader.sql).
-- pg_read_all_data (PostgreSQL 14+) grants SELECT on every table of every database, present and future, and
-- nothing else: no INSERT, UPDATE, DELETE, DDL. Run by deploy/stack.sh and by the compose database's init.
SELECT 'CREATE ROLE badbuzz_reader LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'badbuzz_reader')
\gexec
\if :{?reader_password}
ALTER ROLE badbuzz_reader PASSWORD :'reader_password';
\endif
GRANT pg_read_all_data TO badbuzz_reader;
ALTER ROLE badbuzz_reader SET default_transaction_read_only = on;
