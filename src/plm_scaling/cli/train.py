"""`plm-scaling train` and `evaluate`: one sweep point."""

from __future__ import annotations

import argparse

from .common import command


def _train(a: argparse.Namespace) -> None:
    from omegaconf.errors import MissingMandatoryValue

    from ..config_schema import ConfigError
    from ..training.train import train

    try:
        r = train(a.overrides, restart_if_changed=a.restart_if_changed)
    except MissingMandatoryValue as err:  # a `???` of the packaged defaults, e.g. data.manifest: no default fits all
        key = err.full_key
        raise ConfigError(f"config key {key}: missing; give {key}=VALUE (the workflow gives it)") from None
    if r:
        print(
            f"{r['sweep_point']}: N = {r['n']:,}, {r['tokens']:,} tokens, C = {r['flops']:.3g} FLOPs, "
            + (
                f"diverged ({r['diverged']})"
                if r.get("diverged")
                else f"final validation loss {r['final_val_loss']:.4f}"
            )
        )


def _evaluate(a: argparse.Namespace) -> None:
    from ..training.evaluate import evaluate

    r = evaluate(a.run_dir)
    if r.get("diverged"):
        print(f"{r['sweep_point']}: diverged in training, not evaluated ({r['diverged']})")
    else:
        print(f"{r['sweep_point']}: valid {r['valid_loss']:.4f}, test {r['test_loss']:.4f}")


def _leaves(prefix: str, values: dict) -> dict[str, object]:
    """{a.b.c: value} for every leaf key under `prefix`."""
    out = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key != "defaults":
            out.update(_leaves(name, value) if isinstance(value, dict) else {name: value})
    return out


def _key_lines(prefix: str, values: dict, others: dict[str, dict] | None = None) -> list[str]:
    """`  a.b.c   default` for every leaf key under `prefix`; `???` (no default) shown as required; a key whose
    value differs between the group's options (`others`: option -> its values) shows each option's."""
    lines, alternatives = [], {o: _leaves(prefix, v) for o, v in (others or {}).items()}
    for name, value in _leaves(prefix, values).items():
        shown = "(required)" if value == "???" else value
        if len({str(a.get(name)) for a in alternatives.values()}) > 1:
            shown = ", ".join(f"{a.get(name)} ({o})" for o, a in alternatives.items())
        lines.append(f"  {name:<28} {shown}")
    return lines


def train_epilog() -> str:
    """The training config's groups (with their options) and main keys (with defaults), read from its files."""
    import yaml

    from ..paths import train_config_dir

    root = train_config_dir()
    main = yaml.safe_load((root / "train.yaml").read_text())
    chosen = {k: v for d in main["defaults"] if isinstance(d, dict) for k, v in d.items()}
    lines = ["config groups (choose with GROUP=OPTION; default first):"]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        default = chosen.get(folder.name)
        # a group's default.yaml is its base (trainer) unless it is the chosen option itself (model, data)
        stems = [f.stem for f in folder.glob("*.yaml") if f.stem != "default" or default == "default"]
        options = sorted(stems, key=lambda o: (o != default, o))
        lines.append(f"  {folder.name:<11} {', '.join(options)}")
    lines.append("keys (set with KEY=VALUE; an unknown key is an error, not a silent no-op), with defaults:")
    for folder, option in chosen.items():
        if folder != "_self_" and (root / folder / f"{option}.yaml").is_file():
            others = {f.stem: yaml.safe_load(f.read_text()) or {} for f in sorted((root / folder).glob("*.yaml"))}
            lines += _key_lines(folder, others[option], others if folder == "objective" else None)
    lines += _key_lines("", {k: v for k, v in main.items() if k != "defaults"})
    lines.append("every key of a group: see its file under " + str(root))
    lines.append(
        "example: plm-scaling train run.dir=runs/a data.manifest=results/data/NAME/split/manifest.json objective=mlm"
        " model.target_params=2e4 budget.flops=1e12"
    )
    return "\n".join(lines)


def register(sub) -> None:
    """`train`, `evaluate`."""
    tr = command(sub, "train", "train one sweep point (or resume it); Hydra overrides", epilog=train_epilog())
    tr.add_argument("overrides", nargs="*", help="KEY=VALUE or GROUP=OPTION, e.g. objective=mlm budget.flops=1e12")
    tr.add_argument(
        "--restart-if-changed",
        action="store_true",
        help="discard a run folder whose saved config differs (the workflow uses this)",
    )
    tr.set_defaults(func=_train)

    ev = command(sub, "evaluate", "loss of a finished run on the full valid and test splits")
    ev.add_argument("run_dir", help="the run's folder (run.dir)")
    ev.set_defaults(func=_evaluate)
