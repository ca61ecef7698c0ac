"""Compute-optimal protein language model scaling studies (Cheng et al., NeurIPS 2024), as a workflow."""

__version__ = "0.1.0"
