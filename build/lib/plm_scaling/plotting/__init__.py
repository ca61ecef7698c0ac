"""Figures of the paper and of our own studies, drawn from the tidy table and the fits."""
