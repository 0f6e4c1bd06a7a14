"""One training loop for every model: optimisers, sharding, checkpoints, metrics, progress."""
