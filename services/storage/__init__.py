"""The database: tables, the idempotent score writer, migrations, retention and deletion of personal data."""
