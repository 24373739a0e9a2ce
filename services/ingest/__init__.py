"""``badbuzz ingest``: small, restartable producers that write the ``tweets.raw`` contract (Bluesky, X, JSON
lines); each validates with the scorer's own rules before producing."""
