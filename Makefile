# Shortcuts for the README's commands (a fresh machine may lack make: the README gives each
# command in full too).
PYTHON ?= python3
VENV := .venv
DATA ?= ../shared/data

.PHONY: demo test serve default-model benchmarks

demo:  ## install emovox and print the bundled model's predictions for the example clips
	$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q -e . && $(VENV)/bin/emovox predict examples/*.flac

test:  ## install with test extras and run the test suite (as CI does)
	bash scripts/install-browser.sh && $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q -e ".[test]" && $(VENV)/bin/python -m pytest

serve:  ## the service and web page on http://127.0.0.1:8000
	$(VENV)/bin/emovox serve

default-model:  ## re-train the bundled model (cross-validation for its card, then all speakers) and its live twin
	$(VENV)/bin/emovox cv configs/default.toml --no-val-predictions --out results/runs/default
	$(VENV)/bin/emovox train configs/default.toml --cv-report results/runs/default/report.json \
		--cross-corpus-report results/benchmarks/seven_corpora.json --cross-corpus-recipe crops \
		--out src/emovox/bundled/default
	$(VENV)/bin/emovox train configs/default_live.toml --out src/emovox/bundled/default/live

benchmarks:  ## speed and accuracy figures of the README (long: hours for the accuracy table)
	$(VENV)/bin/python benchmarks/features.py --out results/benchmarks/features.md
	$(VENV)/bin/python benchmarks/inference.py --out results/benchmarks/inference.md
	$(VENV)/bin/python benchmarks/service_load.py --out results/benchmarks/service_load.md
	$(VENV)/bin/python benchmarks/batch.py --out results/benchmarks/batch.md
	$(VENV)/bin/python benchmarks/backbone.py --out results/benchmarks/backbone.md
	$(VENV)/bin/python benchmarks/install.py --out results/benchmarks/install.md
	$(VENV)/bin/python benchmarks/cpu_agreement.py --out results/benchmarks/cpu_agreement.md  # needs qemu-user
	$(VENV)/bin/python benchmarks/cross_corpus.py
	$(VENV)/bin/python benchmarks/multicorpus.py
	$(VENV)/bin/python benchmarks/accuracy.py
