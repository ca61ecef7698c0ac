"""`plm-scaling export`: a finished run's model for Hugging Face `transformers` (the `hf` extra)."""

from __future__ import annotations

import argparse

from .common import command


def _export(a: argparse.Namespace) -> None:
    from ..export.write import export_run

    r = export_run(a.run_dir, a.out_dir)
    stock = "stock transformers" if r["architecture"].startswith("GPTNeoX") else "import plm_scaling.export.hf first"
    diff = r["check"]["max_abs_diff"]
    same = "the run's logits" if diff == 0 else f"logits within {diff:.2g} of the run's"
    print(
        f"{r['run']['sweep_point']}: {a.out_dir} holds {r['architecture']} ({stock}), N = {r['run']['n']:,}, "
        f"valid {r['metrics']['valid_loss']:.4f}, test {r['metrics']['test_loss']:.4f}; {same}"
    )


def register(sub) -> None:
    """`export`."""
    ex = command(
        sub,
        "export",
        "a finished, evaluated run's model as safetensors + config that transformers' from_pretrained loads, with a"
        " model card",
        epilog="CLM runs become stock GPT-NeoX; MLM runs our PLMForMaskedLM (import plm_scaling.export.hf to load)",
    )
    ex.add_argument("run_dir", help="the run's folder (run.dir), trained and evaluated")
    ex.add_argument("out_dir", help="a new (or empty) folder for the model")
    ex.set_defaults(func=_export)
