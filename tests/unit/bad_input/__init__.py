"""Careless and hostile input through the project's own commands, one module per area: FASTA files (test_fasta),
the data stage's other inputs (test_data), training (test_training), studies, plans and names (test_study), the
analysis commands (test_analysis). Each case exits 2 with one line that names the problem and the key or file, and
leaves nothing behind. What only a Snakemake run can show (a study file or config stopping the workflow, quoting in
the rules' shell commands) is tests/workflow/test_bad_input.py."""

import re


def one_line_error(proc, pattern: str) -> str:
    """The single stderr line of a failed command, checked against `pattern`."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("plm-scaling"), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]
