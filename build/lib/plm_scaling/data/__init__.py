"""Data stage: FASTA validation and normalisation, clustered splits, token shards, manifest, statistics."""
