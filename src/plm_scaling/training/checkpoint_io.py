"""Checkpoints written so that a kill or a full disk in the middle of a write never costs the previous one.

Lightning's own writer (`_atomic_save`) puts the bytes into a temporary file in /tmp and moves it into place with
`shutil.move`, which copies when /tmp and the run folder are different file systems (a cluster's shared disk, a
tmpfs): a full disk then truncates the destination, last.ckpt included, and a kill leaves the temporary behind in
/tmp. Here the temporary sits beside the checkpoint, named after this process (io.atomic_outputs: a later run removes
a killed run's), is synced, and renamed over the old file only when complete.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..io import atomic_outputs
from .run_clock import RunClock


class AtomicCheckpointIO(TorchCheckpointIO):
    def __init__(self, clock: RunClock | None = None):
        super().__init__()
        self.clock = clock  # counts the time spent writing

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        try:
            with self.clock.timing("checkpoints") if self.clock else nullcontext(), atomic_outputs(path) as (tmp,):
                with open(tmp, "wb") as fh:
                    torch.save(checkpoint, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as err:
            raise OSError(
                f"{path}: checkpoint not written ({err.strerror or err}); the previous checkpoint is kept, "
                "and the run resumes from it when started again"
            ) from None
