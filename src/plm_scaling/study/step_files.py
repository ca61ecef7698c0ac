"""What an analysis step of a study (the fit, the extrapolation check) reads besides its runs, and what it writes:
built once from the command line, handed through by name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tracking:
    """Where a step's MLflow run goes."""

    uri: str
    experiment: str


@dataclass(frozen=True)
class StepInputs:
    """The study file and the data manifest the runs trained on (both recorded, with their sha256, in the fits
    JSON for audit), and where the step's MLflow run goes."""

    study_file: Path
    manifest: Path
    tracking: Tracking

    @classmethod
    def of(cls, study_file: str | Path, manifest: str | Path, tracking_uri: str, experiment: str) -> StepInputs:
        return cls(Path(study_file), Path(manifest), Tracking(tracking_uri, experiment))


@dataclass(frozen=True)
class FitOutputs:
    """The files an analysis step writes: the fits JSON, the loss table it fitted and the fits table."""

    fits: Path
    loss_table: Path
    fits_table: Path

    @classmethod
    def of(cls, fits: str | Path, loss_table: str | Path, fits_table: str | Path) -> FitOutputs:
        return cls(Path(fits), Path(loss_table), Path(fits_table))

    def paths(self) -> tuple[Path, Path, Path]:
        """In the order the step writes them (and its rule names them)."""
        return self.fits, self.loss_table, self.fits_table
