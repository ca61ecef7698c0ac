"""The model card (README.md, Hugging Face style) of an exported run: what was trained, how well, from which data
and run, and how to load and feed it. Every number comes from the run folder (run.json, metrics.json) or is a
digest computed at export; the card says how each can be checked."""

from __future__ import annotations

OBJECTIVES = {
    "clm": ("CLM: causal, position i predicts token i+1", "text-generation"),
    "mlm": ("MLM: bidirectional, predicts masked residues", "fill-mask"),
}
ARCHITECTURES = {
    "GPTNeoXForCausalLM": (
        "stock `GPTNeoXForCausalLM`: the run's model maps onto it exactly (sequential residuals, rotary on every "
        "dimension, zero MLP biases, query/key rows reordered to GPT-NeoX's rotary pairing); loading needs "
        "`transformers` only"
    ),
    "PLMForMaskedLM": (
        "`PLMForMaskedLM` of `plm_scaling.export.hf`, which runs the run's own ProteinLM (no stock masked LM "
        "matches it: ESM-2's head adds dense, GELU and LayerNorm before the decoder); loading needs "
        "`pip install 'plm-scaling[hf]'` and the import shown below, which registers the model type (no remote code)"
    ),
}


def audit_line(run: dict, metrics: dict) -> str | None:
    """The line `plm-scaling audit` prints for this run under a study figure fitted from it (provenance/audit.py's
    input-run line, without the tree): loss on the full valid split, [training-time validation loss], MLflow run."""
    if not run["run_id"]:
        return None
    common = metrics.get("valid_loss_common_data")
    extra = f" (study held-out {common:.4f})" if common is not None else ""
    return (
        f"{run['sweep_point']}: {run['objective']} N={run['n']:,} C={run['flops']:.3g} "
        f"loss {metrics['valid_loss']:.4f} [{run['final_val_loss']:.4f}]{extra}  run {run['run_id']}"
    )


def _table(run: dict, metrics: dict) -> list[str]:
    s = run["shape"]
    full = f"; counting attention and the output layer too, {run['flops_full']:.4g}" if "flops_full" in run else ""
    rows = [
        ("objective", OBJECTIVES[run["objective"]][0]),
        ("N (non-embedding parameters)", f"{run['n']:,} (the paper's 12·L·d²: {run['n_formula']:,})"),
        (
            "shape",
            f"{s['n_layers']} layers, d_model {s['d_model']}, {s['n_heads']} heads, vocabulary {s['vocab_size']}",
        ),
        ("context", f"{s['context']} tokens"),
        ("D (training tokens)", f"{run['tokens']:,}"),
        ("C = 6·N·D (FLOPs)", f"{run['flops']:.4g}{full}"),
        ("valid loss", f"{metrics['valid_loss']:.4f} (full valid split, {metrics.get('valid_targets', 0):,} targets)"),
        ("test loss", f"{metrics['test_loss']:.4f} (full test split, {metrics.get('test_targets', 0):,} targets)"),
        ("training-time validation loss", f"{run['final_val_loss']:.4f} (the run's validation windows)"),
    ]
    if run["objective"] == "mlm" and "valid_loss_common" in metrics:
        common = f"valid loss at {metrics.get('common_mask_ratio')}: {metrics['valid_loss_common']:.4f}"
        rows.append(("mask ratio", f"{metrics.get('mask_ratio')} ({common})"))
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _provenance(facts: dict) -> list[str]:
    run, manifest, check = facts["run"], facts["manifest"], facts["check"]
    where = facts["logger"]
    line = audit_line(run, facts["metrics"])
    mlflow = (
        f"MLflow run `{run['run_id']}` (experiment `{where.get('experiment')}`, tracking URI "
        f"`{where.get('tracking_uri')}`)"
        if run["run_id"]
        else "none (trained with logger=none: no MLflow run, so no audit line)"
    )
    lines = [
        f"- Training run: {mlflow}, sweep point `{run['sweep_point']}`.",
        f"- Data manifest: `{manifest['path']}`, sha256 `{manifest['sha256']}` at export; the training run logged "
        "the manifest's sha256 as MLflow tag `data_manifest_sha256`: equal values mean the same data.",
    ]
    if line:
        lines.append(
            f"- Audit line: `{line}`. This is how `plm-scaling audit FIGURE` lists the run under any study figure "
            "fitted from it: loss on the full valid split, in brackets the training-time validation loss."
        )
    lines += [
        f"- Weights: converted from the run's `final.ckpt`, sha256 `{facts['checkpoint_sha256']}`. The training "
        "run logged that file's sha256 as MLflow tag `sha256.final.ckpt`, which `plm-scaling audit` compares with "
        "the file: equal digests mean these are the weights behind the losses above.",
        f"- Export check: loaded back through transformers, the model's logits on a {check['tokens']}-token probe "
        + (
            "are the run's, bit for bit."
            if check["max_abs_diff"] == 0
            else f"differ from the run's by at most {check['max_abs_diff']:.2g} (float32 rounding; logits up to "
            f"{check['max_abs_logit']:.3g})."
        ),
    ]
    return lines


def _usage(facts: dict) -> list[str]:
    objective, out = facts["run"]["objective"], facts["out_dir"]
    auto = "AutoModelForCausalLM" if objective == "clm" else "AutoModelForMaskedLM"
    register = [] if objective == "clm" else ["import plm_scaling.export.hf  # registers model_type plm_scaling"]
    masking = [] if objective == "clm" else ['ids[7] = vocab["<mask>"]  # the residue to predict']
    return [
        "```python",
        *register,
        f"from transformers import {auto}",
        f'model = {auto}.from_pretrained("{out}").eval()',
        "```",
        "",
        "There is no tokenizer: `vocab.json` maps each token to its id (ESM-2's alphabet). Frame a sequence as "
        "training did, `<cls>`, one token per residue (one-letter codes, upper case), `<eos>`:",
        "",
        "```python",
        "import json, torch",
        f'vocab = json.load(open("{out}/vocab.json"))',
        'ids = [vocab[a] for a in "MKTAYIAKQRQISFVKSHFSRQ"]',
        *masking,
        'input_ids = torch.tensor([[vocab["<cls>"], *ids, vocab["<eos>"]]])',
        f"logits = model(input_ids=input_ids).logits  # (1, length, {facts['run']['shape']['vocab_size']})",
        "```",
        "",
        f"Sequences of at most {facts['run']['shape']['context']} tokens (the training windows)"
        + (
            '. Sampling: `model.generate(input_ids=torch.tensor([[vocab["<cls>"]]]), do_sample=True, '
            "max_new_tokens=100)` (it stops at `<eos>`)."
            if objective == "clm"
            else "; no padding (the run had none): one length per batch."
        ),
    ]


def model_card(facts: dict) -> str:
    run = facts["run"]
    pipeline = OBJECTIVES[run["objective"]][1]
    front = [
        "---",
        "library_name: transformers",
        f"pipeline_tag: {pipeline}",
        "tags:",
        *(f"- {t}" for t in ("protein", "protein-language-model", "plm-scaling", run["objective"])),
        "---",
    ]
    body = [
        f"# {run['sweep_point']}",
        "",
        "A protein language model trained by plm-scaling, a reproduction of *Training Compute-Optimal Protein "
        f"Language Models* (Cheng et al., NeurIPS 2024). Exported as {ARCHITECTURES[facts['architecture']]}.",
        "",
        *_table(run, facts["metrics"]),
        "",
        "Losses are mean cross-entropy in nats per target token (CLM: every next token; MLM: the masked positions, "
        "with a fixed mask seed).",
        "",
        "## Provenance",
        "",
        *_provenance(facts),
        "",
        "## Use",
        "",
        *_usage(facts),
    ]
    return "\n".join(front + body) + "\n"
