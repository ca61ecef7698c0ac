"""Scaling-law analysis: ingest loss curves into one tidy table, fit IsoFLOP and parametric laws, plan, plot."""
