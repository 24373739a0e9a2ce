"""How models are made: datasets, training, distillation, baselines, the multilingual encoder rebuild,
recipes and evaluation (needs the [train] extra)."""
