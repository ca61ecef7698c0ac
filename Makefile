# Two entry points (see README): `make reproduce` runs the study, `make test` runs the tests.
# Both install what is missing first and nothing when all is installed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: setup system system-metastudent reproduce experiments test test-fast lint bench lock audit clean-results mlflow-server mlflow-ui chaos

setup: system $(STAMP)

system:
	@bash envs/install-system.sh

# The larger dataset config/datasets/metastudent.yaml reads (not part of setup: 225 MB download)
system-metastudent:
	@bash envs/install-system.sh envs/apt-metastudent.txt

# Reinstalls only when the lock file or the package metadata changed.
$(STAMP): envs/requirements.lock pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r envs/requirements.lock 2> >(grep -v "^WARNING: Location" >&2)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e . 2> >(grep -v "^WARNING: Location" >&2)
	@touch $@

# STUDY picks a study under config/studies/ instead of config.yaml's (make reproduce STUDY=mine); the report, which
# opens on the study's results, is then results/report-STUDY.html.
STUDY ?=
REPORT_STYLE := --report-stylesheet rules/report/style.css
reproduce: setup
	@case '$(STUDY)' in *[!A-Za-z0-9_.-]*) echo "make: STUDY='$(STUDY)' is not a study name (letters, digits, . _ -)" >&2; exit 2;; esac
	$(VENV)/bin/snakemake --cores $(CORES) $(if $(STUDY),--config 'study=$(STUDY)')
	$(VENV)/bin/snakemake $(if $(STUDY),--config 'study=$(STUDY)') --report $(if $(STUDY),'results/report-$(STUDY).html',results/report.html) $(REPORT_STYLE)

# The paper's other experiments as studies of their own (README "Experiments"), each with its report. A study file
# says what it needs (study keys datasets_file and paper_stage), so each is the one command
# `snakemake --config study=NAME`.
EXPERIMENTS ?= seeds mask-ratio data-scarcity repeated extrapolation transfer
experiments: setup
	for study in $(EXPERIMENTS); do \
	  $(VENV)/bin/snakemake --cores $(CORES) --config "study=$$study" && \
	  $(VENV)/bin/snakemake --config "study=$$study" --report "results/report-$$study.html" $(REPORT_STYLE) || exit; \
	done

# The unit tests in TEST_WORKERS processes (pytest-xdist; a test file stays in one, with its module fixtures), then
# the workflow tests in two: the smoke study's module (tests/conftest.py FIRST, about 18 min; collection order kept)
# in one, the other modules in the other; much of their time is Snakemake, SLURM and server start-up, not CPU. The
# SLURM helper tests run after them: one test SLURM cluster per machine (envs/slurm-cluster.sh links /etc/slurm),
# and the smoke study's holds it. Every tier runs even if one fails.
TEST_WORKERS ?= 2
WORKFLOW_ALONE = tests/workflow/test_helper_scripts.py
test: setup
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests/unit; unit=$$?; \
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --ignore=$(WORKFLOW_ALONE) tests/workflow; \
	workflow=$$?; $(VENV)/bin/pytest -q $(WORKFLOW_ALONE); alone=$$?; exit $$(( unit || workflow || alone ))

# The fast tier (< 3 min): the unit tests (tests/unit: no Snakemake run, no SLURM, no tracking server) but those marked
# slow (real MMseqs2 on the embedded data, trainings beyond a few seconds). tests/workflow runs with `make test`.
test-fast: setup
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" tests/unit

# Every figure and Table 2 under results/ audited in one process (the figures of one fit share its re-derivation);
# AUDIT_FLAGS=--no-recompute checks the hash chain only.
AUDIT_FLAGS ?=
audit: setup
	$(VENV)/bin/plm-scaling audit $(AUDIT_FLAGS) $$(ls results/studies/*/figures/*.png results/paper/figures/*.png results/paper/table2.csv 2>/dev/null)

# Kill the smoke study at random moments and check that nothing was lost (README "Faults"); CHAOS_DIR must be new.
CHAOS_DIR ?= results/chaos
CHAOS_KILLS ?= 10
chaos: setup
	$(PY) -m plm_scaling.chaos $(CHAOS_DIR) --kills $(CHAOS_KILLS) --study smoke

# The style checks the tests also run: ruff, snakefmt, Snakemake's linter.
lint: setup
	$(VENV)/bin/ruff check src tests benchmarks && $(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/snakefmt --check Snakefile rules
	-$(VENV)/bin/snakemake --lint --config paper_logs=null

# The MLflow UI on the workflow's store (config key mlflow.tracking_uri) at http://127.0.0.1:$(MLFLOW_UI_PORT); once it
# answers, it prints the URL of each experiment's runs table (MLflow 3's home page is its GenAI view).
MLFLOW_DB ?= results/mlflow.db
MLFLOW_UI_PORT ?= 5000
mlflow-ui: setup
	$(PY) -m plm_scaling.mlflow_ui sqlite:///$(MLFLOW_DB) $(MLFLOW_UI_PORT)

# A shared tracking server (envs/mlflow-server.sh documents MLFLOW_BACKEND, MLFLOW_HOST, MLFLOW_PORT, ...).
mlflow-server: setup
	PYTHON=$(PY) bash envs/mlflow-server.sh

bench: setup
	$(PY) benchmarks/bench_fasta.py
	$(PY) benchmarks/bench_fits.py
	$(PY) benchmarks/bench_train.py

lock:
	python3 -m venv /tmp/plm-lock && /tmp/plm-lock/bin/pip install -q -r envs/requirements.in
	/tmp/plm-lock/bin/pip freeze | sed 's/+cpu//' > envs/requirements.lock

clean-results:
	rm -rf results/data results/logs results/benchmarks .snakemake
