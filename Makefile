# mlops_nb: the two commands of the README.
#   make demo   create .venv, install mlops_nb, run the whole pipeline on the bundled demo data
#   make test   install the test tools too, check notebooks and library agree, run every test
#   make test-fast   while iterating: every test not marked slow, browser or server (minutes, not a quarter hour)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export MPLBACKEND := Agg
PYTEST_ARGS ?=

.PHONY: demo test test-fast install check-sync nbtest bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

demo: install
	python tools/demo_workspace.py demo        # demo/: the demo project with its own git and DVC
	cd demo && dvc repro
	python tools/demo_workspace.py demo --commit   # dvc.lock, metrics, plots: what experiments compare with
	@echo
	@cd demo && mlops-nb status
	@echo
	@echo "Results, in demo/:"
	@echo "  reports/metrics.json            test-set metrics   (dvc metrics show)"
	@echo "  reports/notebooks/*.ipynb       the executed stage notebooks: each stage's report"
	@echo "  reports/plots/                  ROC + confusion    (dvc plots show)"
	@echo "  reports/gates.json              gate verdicts; reports/html/*.html: code-free reports to share"
	@echo "  reports/data/profile.json       data profile; contract.yaml: the data contract prepare checks"
	@echo "  reports/drift/drift.json        drift of the test window vs training; mlops-nb monitor BATCH for new data"
	@echo "  Compare:    cd demo && dvc exp run -S +train.hyperparameters.max_iter=200 && dvc exp show --only-changed"
	@echo "  Dashboards: cd demo && MLOPS_NB_USER=alice mlops-nb dashboards   (Voila on 127.0.0.1:8866)"
	@echo "  MLflow UI:  cd demo && mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000"

check-sync: install
	tools/check_sync.sh

nbtest: install
	nbdev-test --n-workers 2

test: check-sync nbtest
	pytest $(PYTEST_ARGS)

test-fast: install
	pytest -m "not slow and not browser and not server" $(PYTEST_ARGS)

bench: install
	for b in startup train pipeline contract drift monitor fairness explain registry dashboard serve; do python bench/$${b}_bench.py || exit 1; done

clean:
	rm -rf data/prepared data/predictions data/quarantine models reports monitoring mlflow.db mlartifacts audit dvc.lock
