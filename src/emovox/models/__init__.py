"""The model family: networks (PyTorch, built by name in `emovox.models.registry`) and the
classical baselines kept as arrays (`emovox.models.classical`, loadable without PyTorch)."""
