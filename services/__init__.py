"""Long-running processes and their wiring: settings, storage, the scorer service, the CLI."""
