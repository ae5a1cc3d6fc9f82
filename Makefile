# Two commands for a fresh machine with Python 3.10+:
#   make demo   create .venv if missing, install (with the face extra), run the main job (outputs under outputs/demo/)
#   make test   create .venv if missing, install with test, face and datasets extras, check the layer rules
#               (import-linter), run the unit tests and notebooks
#   make notebooks   install Jupyter into .venv and open the notebooks in JupyterLab
#
# torch: an importable torch of the base interpreter is reused (the venv then sees the system
# site-packages), never replaced. Otherwise $(TORCH_SPEC) is installed first; set TORCH_SPEC
# (and PIP_EXTRA_INDEX_URL) for another build, e.g. a CUDA one.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
VENV_ARGS := $(shell $(PYTHON) -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torch') is None)" 2>/dev/null && echo --system-site-packages)
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test notebooks install install-test benchmarks clean

demo: $(VENV)/.installed
	$(BIN)/python -m helpers demo $(DEMO_ARGS)

test: $(VENV)/.installed-test
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

notebooks: $(VENV)/.installed-notebooks
	$(BIN)/jupyter lab notebooks/

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV_ARGS) $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.txt
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[face]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -e ".[test,face,datasets]"
	touch $@

$(VENV)/.installed-notebooks: $(VENV)/.installed
	$(BIN)/python -m pip install -e ".[face,datasets,notebooks]"
	touch $@

clean:
	rm -rf $(VENV) outputs .pytest_cache build *.egg-info
