"""Where tweets come from: the live connectors (Bluesky, X), JSON lines, tweet-history files and replays; each
hands the stream the same raw record (docs/contracts.md)."""
