#!/usr/bin/env bash
# The GPU check on a bare, offline machine (Python 3.12 with torch + lightning, no Snakemake/Hydra/MLflow/MMseqs2),
# from the repo root:   bash benchmarks/gpu_remote.sh [OUT]      (OUT: default $OUT, else results/gpu-quick-out)
# Needs .whl/ and .deb/ beside it (made here by benchmarks/gpu_carry.sh). Installs the wheels into SITE (/tmp/site),
# unpacks the debs into SYSROOT (/tmp/sysroot, never /), puts an mmseqs wrapper on PATH, points dataset
# uniprot_example at the unpacked DB.fasta.gz, then runs benchmarks/gpu_quick.sh OUT (STUDY, PROFILE, CORES,
# EXTRA_CONFIG pass through). The project runs from src/ (PYTHONPATH): rules call `python -m plm_scaling.cli`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-results/gpu-quick-out}}
site=${SITE:-/tmp/site}
root=${SYSROOT:-/tmp/sysroot}
py=${PYTHON:-python3}
SECONDS=0
"$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
rm -rf "$root" && mkdir -p "$root/bin"
for f in .deb/*.deb; do
  if command -v dpkg >/dev/null; then dpkg -x "$f" "$root"; else ar p "$f" data.tar.xz | tar -xJ -C "$root"; fi
done
# Debian's /usr/bin/mmseqs picks a SIMD build under /usr/bin; ours does the same under SYSROOT, with the carried
# libraries (libgzstream0 is not in Ubuntu images; libatomic1, libgomp1, libbz2) first, for mmseqs alone.
libs=$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu  # Debian 12 keeps libbz2 in /lib
simd=sse3
for s in sse4.1 avx avx2; do grep -qw "${s/./_}" /proc/cpuinfo && simd=$s; done
cat >"$root/bin/mmseqs" <<EOF
#!/bin/sh
LD_LIBRARY_PATH=$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} exec $root/usr/bin/mmseqs-$simd "\$@"
EOF
chmod +x "$root/bin/mmseqs"
"$root/bin/mmseqs" version >/dev/null || {
  LD_LIBRARY_PATH=$libs ldd "$root/usr/bin/mmseqs-$simd"
  exit 1
}
export PATH="$root/bin:$site/bin:$PATH" PYTHONPATH="$site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fasta=$root/usr/share/doc/mmseqs2/example-data/DB.fasta.gz
export EXTRA_CONFIG="datasets={\"uniprot_example\":{\"fasta\":\"$fasta\"}}${EXTRA_CONFIG:+ $EXTRA_CONFIG}"
"$py" -c "import snakemake, hydra, mlflow, torch, lightning, plm_scaling.cli; print('torch', torch.__version__, \
'cuda', torch.cuda.is_available(), 'lightning', lightning.__version__, 'mlflow', mlflow.__version__)"
echo "set-up: $SECONDS s (mmseqs-$simd $(mmseqs version), snakemake $(snakemake --version))"
bash benchmarks/gpu_quick.sh "$out"
