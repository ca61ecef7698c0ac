"""Provenance: the MLflow runs of the workflow's steps (lineage) and the audit that walks a figure back to its
runs, code and data (audit, audit_runs, chain, rederive)."""
