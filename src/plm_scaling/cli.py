"""`plm-scaling` command line. Every failure ends in one line on stderr (`plm-scaling: error: ...`) and exit 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings


def _data_clean(a: argparse.Namespace) -> None:
    from .data.clean import clean

    info = clean(a.fasta, a.out_dir, a.min_length, a.max_length)
    print(f"kept {info['records_kept']:,} of {info['records_read']:,} records ({info['residues_kept']:,} residues)")


def _data_split(a: argparse.Namespace) -> None:
    from .data.split import make_splits

    m = make_splits(a.clean_dir, a.out_dir, a.identity, a.coverage, a.cov_mode, a.cluster_mode, a.sensitivity,
                    a.valid, a.test, a.seed, a.threads, a.dataset)  # fmt: skip
    for name, s in m["splits"].items():
        print(f"{name}: {s['sequences']:,} sequences, {s['tokens']:,} tokens, {s['clusters']:,} clusters")


def _data_stats(a: argparse.Namespace) -> None:
    from .data.stats import plot_stats

    plot_stats(a.split_dir, a.out)


def _load_table(path: str):
    """A tidy loss table from a CSV written by `ingest-logs`, or ingested now from a folder of logs."""
    from pathlib import Path

    from .analysis.logs import Table, ingest

    return Table.read_csv(path) if Path(path).is_file() else ingest(path)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _ingest_logs(a: argparse.Namespace) -> None:
    from .analysis.logs import ingest
    from .io import atomic_outputs

    table = ingest(a.logs_dir)
    with atomic_outputs(a.out) as (tmp,):
        table.write_csv(tmp)
    print(f"{len(table):,} rows from {len(table.unique_sources())} files")


def _fit_logs(a: argparse.Namespace) -> None:
    from .analysis.fits import fit_logs, summary

    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # see fits.fit_all
        result = fit_logs(_load_table(a.logs), a.method, bootstrap=a.bootstrap, seed=a.seed, floor=a.floor)
    if a.json:
        _print_json(summary(result))
        return
    for objective, laws in result.items():
        for name in ("n_opt", "d_opt", "loss"):
            ci = laws[name].get("ci95")
            extra = f"  95% CI [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
            print(f"{objective} {name:<6} = {laws[name]['coef']:.4g} · x^{laws[name]['exponent']:.4f}{extra}")
        print(f"{objective} {laws['n_budgets']} budgets, {laws['n_runs']} runs")


def _fit_parametric(a: argparse.Namespace) -> None:
    from .analysis.fits import read_points_csv
    from .analysis.parametric import fit_parametric, fit_seed, identified

    pts = read_points_csv(a.csv, a.n_col, a.d_col, a.c_col, a.loss_col, a.drop_highest)
    if a.method == "seed":
        law = fit_seed(pts["n"], pts["d"], pts["loss"], p0=_p0(a.p0))
        if "error" in law:
            raise ValueError(law["error"])
    else:
        law = fit_parametric(pts["n"], pts["d"], pts["loss"], bootstrap=a.bootstrap, seed=a.seed)
    if a.json:
        _print_json(law)
        return
    how = law["status"]["message"] if "status" in law else f"curve_fit trf from p0 {law['p0']}"
    print(f"L = {law['E']:.4f} + {law['A']:.4g}/N^{law['alpha']:.4f} + {law['B']:.4g}/D^{law['beta']:.4f}"
          f"  ({law['n_points']} points, {how})")
    if not identified(law):
        why = law.get("degenerate") or "a parameter's uncertainty is as large as its value, or E <= 0"
        print(f"plm-scaling: warning: the law is not identified ({why})", file=sys.stderr)


def _p0(text: str | None) -> dict | None:
    """--p0 "E,A,B,alpha,beta" -> the start of the seed's fit."""
    from .analysis.parametric import LAW_KEYS

    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != len(LAW_KEYS):
        raise ValueError(f"--p0: give {len(LAW_KEYS)} numbers E,A,B,alpha,beta, got {text!r}")
    return dict(zip(LAW_KEYS, values))


def _laws_for_plan(a: argparse.Namespace) -> tuple[dict, str]:
    """(laws of the objective, which law answered): --law FILE, else a notebook fit of --logs (or
    $PLM_PAPER_LOGS), else the laws the authors released with their notebook."""
    from .analysis import notebook
    from .analysis.fits import RELEASED_LAWS
    from .io import read_json

    if a.law:
        try:
            laws = read_json(a.law)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{a.law}: not a JSON file ({err})") from None
        if not isinstance(laws, dict):
            raise ValueError(f"{a.law}: not a JSON object of laws")
        laws = laws.get("notebook", laws) if a.objective not in laws else laws
        if not isinstance(laws.get(a.objective), dict) or "n_opt" not in laws[a.objective]:
            raise ValueError(f"{a.law}: no {a.objective} n_opt law in this file")
        return laws[a.objective], f"laws from {a.law}"
    logs = a.logs or os.environ.get("PLM_PAPER_LOGS")
    if logs:
        return notebook.fit(_load_table(logs), a.objective), f"notebook method fitted to {logs}"
    return RELEASED_LAWS[a.objective], "the authors' released law (notebook law_weights; N_opt only)"


def _plan(a: argparse.Namespace) -> None:
    from .analysis.planner import plan

    laws, source = _laws_for_plan(a)
    result = {**plan(laws, flops=a.flops, params=a.params, tokens=a.tokens), "law": source}
    if a.json:
        _print_json(result)
        return
    print(f"{a.objective} at C = {result['flops']:.3g} FLOPs ({source}):")
    for key, label, fmt in (("n_opt", "N_opt", ".3g"), ("d_opt", "D_opt", ".3g"), ("loss", "loss ", ".4f")):
        if result[key] is None:
            print(f"  {label} = (no loss law)")
            continue
        ci = result["ci95"][key]
        interval = f"  (95% CI {ci[0]:{fmt}} – {ci[1]:{fmt}})" if ci else "  (no interval: this law carries no uncertainty)"
        print(f"  {label} = {result[key]:{fmt}}{interval}")


def _paper_fits(a: argparse.Namespace) -> None:
    from .io import atomic_outputs, write_json

    if a.released:  # the fit as an MLflow run naming the released runs, provenance recorded in its output
        from .study.paper import fit_paper

        fits = fit_paper(a.table, a.released, a.out, bootstrap=a.bootstrap, seed=a.seed)
    else:
        from .analysis.fits import fit_all

        fits = fit_all(_load_table(a.table), bootstrap=a.bootstrap, seed=a.seed)
        with atomic_outputs(a.out) as (tmp,):
            write_json(tmp, fits)
    for w in fits["warnings"]:
        print(f"warning: {w}")


def _paper_track(a: argparse.Namespace) -> None:
    from .study.paper import track_released

    r = track_released(a.logs, a.table, a.tracking_uri, a.experiment, a.out)
    print(f"{len(r['runs'])} released curves in experiment {r['experiment']}: {r['new_runs']} logged now, "
          f"{len(r['runs']) - r['new_runs']} unchanged")  # fmt: skip


def _paper_figure(a: argparse.Namespace) -> None:
    from .io import read_json

    fits = read_json(a.fits)
    if "provenance" in fits:  # fitted as an MLflow run: the figure is a run too, with its provenance
        from .study.paper import paper_output

        paper_output(a.name, a.table, a.fits, a.out)
    elif a.name == "table2":
        from .plotting.table2 import table2

        table2(fits, a.out)
    else:
        from .plotting import figures

        figures.draw_paper_figure(a.name, lambda: _load_table(a.table), fits, a.out)


def _train(a: argparse.Namespace) -> None:
    from .training.train import train

    result = train(a.overrides, restart_if_changed=a.restart_if_changed)
    if result:
        print(f"{result['sweep_point']}: N = {result['n']:,}, {result['tokens']:,} tokens, "
              f"C = {result['flops']:.3g} FLOPs, final validation loss {result['final_val_loss']:.4f}")


def _evaluate(a: argparse.Namespace) -> None:
    from .training.evaluate import evaluate

    r = evaluate(a.run_dir)
    print(f"{r['sweep_point']}: valid {r['valid_loss']:.4f}, test {r['test_loss']:.4f}")


def _mlflow_init(a: argparse.Namespace) -> None:
    from .tracking import init_store

    info = init_store(a.tracking_uri, a.experiment, a.marker)
    print(f"MLflow store {info['tracking_uri']}: experiment {info['experiment']} ({info['experiment_id']})")


def _study_fit(a: argparse.Namespace) -> None:
    from pathlib import Path

    from .study.fit import exponent_table, fit_study

    result = fit_study(a.study, [Path(m).parent for m in a.runs], a.study_file, a.manifest, a.tracking_uri, a.experiment, a.out_json,
                       a.out_table, bootstrap=a.bootstrap, seed=a.seed)  # fmt: skip
    for w in result["warnings"]:
        print(f"warning: {w}")
    for row in exponent_table(result):
        print(" ".join(row))


def _study_figure(a: argparse.Namespace) -> None:
    from .study.figure import study_figure

    side = study_figure(a.name, a.fits, a.out)
    print(f"{a.out}: sha256 {side['sha256']}, run {side['producing_run_id']}")


def _audit(a: argparse.Namespace) -> int:
    from .study.audit import audit

    lines, problems = audit(a.figure)
    print("\n".join(lines))
    for p in problems:
        print(f"FAIL: {p}")
    print("OK: figure, runs, code, config and data agree" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _count(text: str) -> int:
    """A whole number >= 0 (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _bootstrap_args(parser: argparse.ArgumentParser, resamples: int) -> None:
    parser.add_argument("--bootstrap", type=_count, default=resamples, help="bootstrap resamples (seeded) for 95%% CIs")
    parser.add_argument("--seed", type=_count, default=0)


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit 2, as every other failure."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="plm-scaling", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="data stage").add_subparsers(dest="step", required=True)

    c = data.add_parser("clean", help="validate, normalise and length-filter a FASTA into token shards")
    c.add_argument("fasta")
    c.add_argument("out_dir")
    c.add_argument("--min-length", type=int, default=1)
    c.add_argument("--max-length", type=int, default=65535)
    c.set_defaults(func=_data_clean)

    s = data.add_parser("split", help="cluster with MMseqs2 and write leakage-free train/valid/test shards")
    s.add_argument("clean_dir")
    s.add_argument("out_dir")
    s.add_argument("--dataset", default="")
    s.add_argument("--identity", type=float, default=0.5)
    s.add_argument("--coverage", type=float, default=0.8)
    s.add_argument("--cov-mode", type=int, default=0, choices=(0, 1, 2))
    s.add_argument("--cluster-mode", default="cluster", choices=("cluster", "linclust"))
    s.add_argument("--sensitivity", type=float, default=5.7)
    s.add_argument("--valid", type=float, default=0.05)
    s.add_argument("--test", type=float, default=0.05)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=1)
    s.set_defaults(func=_data_split)

    st = data.add_parser("stats", help="length and composition figure of a split dataset")
    st.add_argument("split_dir")
    st.add_argument("out")
    st.set_defaults(func=_data_stats)

    ing = sub.add_parser("ingest-logs", help="read a folder of loss-curve CSVs into one tidy table (CSV)")
    ing.add_argument("logs_dir")
    ing.add_argument("out")
    ing.set_defaults(func=_ingest_logs)

    fl = sub.add_parser("fit-logs", help="IsoFLOP power laws N_opt(C), D_opt(C), L(C) of released or tidy logs")
    fl.add_argument("logs", help="folder of released logs, or a tidy table CSV from ingest-logs")
    fl.add_argument("--method", choices=("notebook", "interp"), default="notebook")
    _bootstrap_args(fl, 1000)
    fl.add_argument("--floor", action="store_true", help="interp: fit L(C) with a saturation floor E")
    fl.add_argument("--json", action="store_true")
    fl.set_defaults(func=_fit_logs)

    fp = sub.add_parser("fit-parametric", help="fit L(N, D) = E + A/N^alpha + B/D^beta to a table of runs")
    fp.add_argument("csv")
    fp.add_argument("--n-col", required=True)
    x = fp.add_mutually_exclusive_group(required=True)
    x.add_argument("--d-col")
    x.add_argument("--c-col", help="compute column; D = C / (6 N)")
    fp.add_argument("--loss-col", required=True)
    fp.add_argument("--drop-highest", type=int, default=0, help="leave out the K runs of highest loss")
    fp.add_argument("--method", choices=("epoch", "seed"), default="epoch",
                    help="epoch: Huber in log space, L-BFGS from a grid, bootstrap intervals (default); seed: the "
                    "authors' curve_fit (trf, maxfev 12000) from one start")  # fmt: skip
    fp.add_argument("--p0", help="start of the seed method: E,A,B,alpha,beta (default 1.5,100,100,0.3,0.3)")
    _bootstrap_args(fp, 200)
    fp.add_argument("--json", action="store_true")
    fp.set_defaults(func=_fit_parametric)

    pl = sub.add_parser("plan", help="compute-optimal N, D and loss for a budget (or for a given N or D)")
    pl.add_argument("--objective", choices=("clm", "mlm"), required=True)
    what = pl.add_mutually_exclusive_group(required=True)
    what.add_argument("--flops", type=float)
    what.add_argument("--params", type=float, help="N: plan the budget whose optimum is this size")
    what.add_argument("--tokens", type=float, help="D: plan the budget whose optimum trains on this many tokens")
    pl.add_argument("--law", help="laws JSON (fit-logs --json output or the workflow's fits)")
    pl.add_argument("--logs", help="fit the notebook law to these released logs (else $PLM_PAPER_LOGS); with "
                    "neither, the law the authors released")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=_plan)

    pf = sub.add_parser("paper-fits", help="all fits (notebook, interp, parametric, transfer) of a tidy table")
    pf.add_argument("table")
    pf.add_argument("out")
    pf.add_argument("--released", help="paper-track's output: fit as an MLflow run that names the released runs")
    _bootstrap_args(pf, 1000)
    pf.set_defaults(func=_paper_fits)

    pt = sub.add_parser("paper-track", help="log every released curve as an MLflow run (unchanged ones once)")
    pt.add_argument("logs", help="the released logs folder")
    pt.add_argument("table", help="its tidy table (ingest-logs output)")
    pt.add_argument("out", help="JSON listing the runs with source and sha256")
    pt.add_argument("--tracking-uri", required=True)
    pt.add_argument("--experiment", required=True)
    pt.set_defaults(func=_paper_track)

    fg = sub.add_parser("paper-figure", help="draw one figure (PNG + SVG) or Table 2 (CSV + Markdown)")
    fg.add_argument("name", choices=("repeated_data", "isoflop", "table2", "transfer", "mlm_from_clm", "mask_ratio",
                                     "isoloss"))  # fmt: skip
    fg.add_argument("table")
    fg.add_argument("fits")
    fg.add_argument("out")
    fg.set_defaults(func=_paper_figure)

    tr = sub.add_parser("train", help="train one sweep point; Hydra overrides, e.g. objective=mlm budget.flops=1e12")
    tr.add_argument("overrides", nargs="*")
    tr.add_argument("--restart-if-changed", action="store_true",
                    help="discard a run folder whose saved config differs (the workflow uses this)")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="loss of a finished run on the full valid and test splits")
    ev.add_argument("run_dir")
    ev.set_defaults(func=_evaluate)

    mi = sub.add_parser("mlflow-init", help="create the MLflow store and experiment once, before parallel jobs")
    mi.add_argument("tracking_uri")
    mi.add_argument("experiment")
    mi.add_argument("marker", help="JSON file written when done (a Snakemake output)")
    mi.set_defaults(func=_mlflow_init)

    sf = sub.add_parser("study-fit", help="collect a study's runs, fit its laws, as an MLflow run")
    sf.add_argument("study")
    sf.add_argument("out_json")
    sf.add_argument("out_table")
    sf.add_argument("--runs", required=True, nargs="+", help="metrics.json of each of the study's runs")
    sf.add_argument("--study-file", required=True)
    sf.add_argument("--manifest", required=True, help="data manifest the runs trained on")
    sf.add_argument("--tracking-uri", required=True)
    sf.add_argument("--experiment", required=True)
    _bootstrap_args(sf, 1000)
    sf.set_defaults(func=_study_fit)

    sg = sub.add_parser("study-figure", help="draw a study figure with its provenance, as an MLflow run")
    sg.add_argument("name", choices=("isoflop",))
    sg.add_argument("fits")
    sg.add_argument("out")
    sg.set_defaults(func=_study_figure)

    au = sub.add_parser("audit", help="lineage of a figure; exit 1 when bytes, runs, code, config or data changed")
    au.add_argument("figure")
    au.set_defaults(func=_audit)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"plm-scaling: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except (ValueError, RuntimeError, OSError) as err:
        message = " ".join(str(err).split())  # one line, whatever the cause
        print(f"plm-scaling: error: {message}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
