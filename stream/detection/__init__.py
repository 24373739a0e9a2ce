"""Bad-buzz detection, pure logic: per-minute rollups, baselines, the multi-scale detector, its statistics,
alert events and their explanation. No I/O."""
