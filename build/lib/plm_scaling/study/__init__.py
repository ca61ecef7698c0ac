"""Our own studies: runs -> tidy table -> fits -> figures, each step an MLflow run, each figure auditable."""
