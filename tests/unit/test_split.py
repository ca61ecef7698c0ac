"""Cluster assignment of the split: seeded, whole clusters, the configured shares (the split itself, with MMseqs2
on the embedded data: tests/workflow/test_split_and_manifest.py)."""

import numpy as np

from plm_scaling.data.split import assign_clusters


def test_cluster_assignment_is_seeded_and_whole():
    rep = np.repeat(np.arange(1000), 3)
    a, b = assign_clusters(rep, 0.1, 0.1, seed=1), assign_clusters(rep, 0.1, 0.1, seed=1)
    np.testing.assert_array_equal(a, b)
    assert (a.reshape(-1, 3) == a.reshape(-1, 3)[:, :1]).all()  # every cluster lies in one split
    assert not np.array_equal(a, assign_clusters(rep, 0.1, 0.1, seed=2))
    share = np.bincount(a[::3], minlength=3) / 1000
    assert abs(share[1] - 0.1) < 0.03 and abs(share[2] - 0.1) < 0.03
