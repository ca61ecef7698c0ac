"""Training stage: Lightning modules over the data stage's shards, configured by Hydra, tracked in MLflow."""
