"""Peak memory and throughput of the data stage and of training-time sampling on FASTA files of growing size.

For each size, a synthetic FASTA (the embedded UniProt sequences repeated under new identifiers, plain text) is
written, then three steps run, each in a fresh process whose peak RSS is read from the kernel (wait4):
  clean   FASTA -> validated token shard (src/plm_scaling/data/clean.py), the stage's only pass over the text;
  shards  the split's per-split shard writing (data/split.py: write_split_shards) with a random 90/5/5 split in
          place of MMseqs2's clusters (MMseqs2's own memory is bounded by its --split-memory-limit; README);
  sample  10,000 training windows of 1,024 tokens drawn from the memory-mapped shard (training/data.FramedStream).
Peak RSS that stays flat while the input grows 8x is what "constant memory" means here; the ratio column divides
each anonymous peak by the smallest input's, measured in the same run.

    python benchmarks/bench_data_memory.py [--sizes-gb 0.25,0.5,1,2] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EMBEDDED = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")

STEPS = {
    "clean": "from plm_scaling.data.clean import clean\nclean({fasta!r}, {out!r}, 10, 65535)",
    "shards": """
import numpy as np
from pathlib import Path
from plm_scaling.data.shards import Shard, shard_paths
from plm_scaling.data.split import SPLITS, write_split_shards
source = Shard.open(Path({out!r}) / "all")
split = np.random.default_rng(0).choice(3, size=len(source), p=[0.9, 0.05, 0.05]).astype(np.uint8)
temps = [p for s in SPLITS for p in shard_paths(Path({out!r}) / s)]
write_split_shards(source, Path({out!r}) / "all.ids.txt", split, np.arange(len(source)), temps)
""",
    "sample": """
import numpy as np
from pathlib import Path
from plm_scaling.data.shards import Shard
from plm_scaling.training.data import FramedStream
stream = FramedStream(Shard.open(Path({out!r}) / "train"))
rng = np.random.default_rng(0)
for start in rng.integers(0, stream.size - 1025, 10_000).tolist():
    stream[start : start + 1025]
""",
}


def write_fasta(path: Path, gigabytes: float) -> int:
    """The embedded records, repeated with identifiers made unique, until the file holds `gigabytes`."""
    records = gzip.decompress(EMBEDDED.read_bytes()).split(b"\n>")
    records[0] = records[0].lstrip(b">")
    target, written, copy = int(gigabytes * 1e9), 0, 0
    with open(path, "wb", buffering=1 << 24) as fh:
        while written < target:
            block = b"".join(b">c%d_%s\n" % (copy, rec.rstrip(b"\n")) for rec in records)
            fh.write(block)
            written += len(block)
            copy += 1
    return written


def run_step(code: str) -> tuple[float, float, float]:
    """(seconds, peak RSS, peak anonymous RSS in MB) of `code` run in a fresh Python process. Peak RSS (the
    kernel's, from wait4) also counts pages of memory-mapped shard files, which the kernel drops under pressure;
    anonymous RSS (sampled every 20 ms from /proc) is the memory the process cannot give back."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code])
    anon = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # reaps the child itself, so its own peak is known
        if pid:
            break
        try:
            text = Path(f"/proc/{proc.pid}/status").read_text()
            anon = max(anon, next(int(line.split()[1]) for line in text.splitlines() if line.startswith("RssAnon")))
        except (OSError, StopIteration):
            pass
        time.sleep(0.02)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step failed: {code[:200]}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024, anon / 1024  # kB -> MB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes-gb", default="0.25,0.5,1,2")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the FASTA files and shards are written")
    args = ap.parse_args()
    print(f"{'size':>8} {'step':>7} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12} {'anon MB':>8} {'x smallest':>10}")
    first: dict[str, float] = {}
    for gb in map(float, args.sizes_gb.split(",")):
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-data-") as tmp:
            fasta, out = Path(tmp) / "in.fasta", str(Path(tmp) / "out")
            size = write_fasta(fasta, gb)
            for step, template in STEPS.items():
                seconds, rss, anon = run_step(template.format(fasta=str(fasta), out=out))
                first.setdefault(step, anon)
                rate = f"{size / 1e6 / seconds:7.0f}" if step != "sample" else f"{'-':>7}"
                ratio = anon / first[step]
                print(
                    f"{size / 1e9:7.2f}G {step:>7} {seconds:8.1f} {rate} {rss:12.0f} {anon:8.0f} {ratio:10.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
