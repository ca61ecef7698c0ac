"""Perplexity filtering of the train split by a finished CLM run of this workflow."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest

from plm_scaling.data.shards import Shard, read_ids
from plm_scaling.training.perplexity_filter import filter_split


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures saved during the test (savefig wrapped), so that what they plot can be checked."""
    from matplotlib.figure import Figure

    figures, save = [], Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


@pytest.fixture(scope="module")
def reference(tiny_clm_run):
    """A finished tiny CLM run on the 300-sequence fixture."""
    return tiny_clm_run[0]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_filter_keeps_the_configured_band_and_names_its_reference(small_manifest, reference, tmp_path, drawn):
    split = small_manifest.parent
    info = filter_split(split, tmp_path / "f", reference, drop_top=0.25, drop_bottom=0.1)
    with open(tmp_path / "f" / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ppl = np.array([float(r["perplexity"]) for r in rows])
    kept = np.array([r["kept"] == "1" for r in rows])
    assert [r["id"] for r in rows] == read_ids(split / "train.ids.txt")  # every train sequence scored, in order
    assert np.all((ppl > 1) & (ppl < 33))  # between a certain guess and uniform over the vocabulary
    low, high = np.quantile(ppl, [0.1, 0.75])
    assert np.array_equal(kept, (ppl >= low) & (ppl <= high))
    assert abs(kept.mean() - 0.65) <= 2 / len(rows)  # the band holds the configured share
    assert read_ids(tmp_path / "f" / "train.ids.txt") == [r["id"] for r in rows if r["kept"] == "1"]
    for name in ("valid", "test"):  # held-out data is not filtered
        for suffix in (".tokens.u8", ".offsets.npy", ".ids.txt"):
            assert _sha(tmp_path / "f" / f"{name}{suffix}") == _sha(split / f"{name}{suffix}")
    manifest = json.loads((tmp_path / "f" / "manifest.json").read_text())
    f = manifest["filter"]
    assert f == info and f["reference_sweep_point"] == json.loads((reference / "run.json").read_text())["sweep_point"]
    assert f["reference_checkpoint_sha256"] == _sha(reference / "final.ckpt")
    assert manifest["splits"]["train"]["sequences"] == len(Shard.open(tmp_path / "f" / "train")) == kept.sum()
    # scores.png plots every one of these perplexities (a log histogram; scores.csv rounds them to 6 digits, hence
    # its outer edges widened by 1e-6) and the band's two cuts
    (figure,) = drawn
    ax = figure.axes[0]
    heights = [p.get_height() for p in ax.patches]
    edges = np.array([p.get_x() for p in ax.patches] + [ax.patches[-1].get_x() + ax.patches[-1].get_width()])
    edges[0], edges[-1] = edges[0] * (1 - 1e-6), edges[-1] * (1 + 1e-6)
    assert sum(heights) == len(rows) and heights == np.histogram(ppl, edges)[0].tolist()
    cuts = sorted(float(line.get_xdata()[0]) for line in ax.lines)
    assert cuts == pytest.approx([info["perplexity_low"], info["perplexity_high"]], rel=1e-12)
    assert (tmp_path / "f" / "scores.png").read_bytes()[:4] == b"\x89PNG"


def test_scores_do_not_depend_on_the_batch(small_manifest, reference):
    from plm_scaling.training.perplexity_filter import load_reference, score_shard

    model, done = load_reference(reference)
    train = Shard.open(small_manifest.parent / "train")
    context = done["shape"]["context"]
    np.testing.assert_allclose(
        score_shard(model, train, context, 7), score_shard(model, train, context, 256), rtol=1e-5
    )


def test_filter_refuses_an_mlm_reference_and_a_bad_band(small_manifest, reference, tmp_path):
    with pytest.raises(ValueError, match="drop_top, drop_bottom and their sum < 1"):
        filter_split(small_manifest.parent, tmp_path / "f", reference, drop_top=0.6, drop_bottom=0.5)
    done = json.loads((reference / "run.json").read_text())
    mlm = tmp_path / "mlm"
    mlm.mkdir()
    (mlm / "run.json").write_text(json.dumps({**done, "objective": "mlm"}))
    with pytest.raises(ValueError, match="perplexity filtering needs a CLM reference run"):
        filter_split(small_manifest.parent, tmp_path / "f", mlm, drop_top=0.2)
    assert not (tmp_path / "f").exists()
