# Set-up and the two entry points. Every target creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the corpora: $TEXTZOO_DATA if set, else the shared folder beside the repository (DATA=... wins over both)
DATA ?= $(or $(TEXTZOO_DATA),$(abspath ../shared/data))

.PHONY: demo test install clean benchmarks-page

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	TEXTZOO_DATA=$(DATA) $(BIN)/textzoo train textgcn --dataset R8 --out runs/demo-r8-textgcn

test: $(STAMP)
	TEXTZOO_DATA=$(DATA) $(BIN)/python -m pytest -q

benchmarks-page:  # BENCHMARKS.md from benchmarks/results/*.json (standard library only)
	$(PYTHON) benchmarks/render.py

clean:
	rm -rf $(VENV) runs .pytest_cache
