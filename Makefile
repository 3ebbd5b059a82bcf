# make test: create .venv when missing, install the project into it, run the test suite.
# make demo: run the VoxCeleb recipe on the mini corpus ($BCCMT_DATA).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bccmt-installed
BCCMT_DATA ?=
DEMO_DIR ?= egs/voxceleb

.PHONY: test demo venv clean-venv bench

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,onnx,plot]'
	touch $@

test: $(STAMP)
	$(PY) -m pytest -q -ra tests

demo: $(STAMP)
	@if [ -z "$(BCCMT_DATA)" ]; then \
	  echo "make demo: set BCCMT_DATA to the mini corpus (e.g. BCCMT_DATA=../shared/data/minivox make demo)" >&2; exit 2; fi
	cd $(DEMO_DIR) && PATH="$(abspath $(VENV))/bin:$$PATH" ./run.sh --data-root "$(abspath $(BCCMT_DATA))" --preset mini --stage 1 --stop-stage 12

clean-venv:
	rm -rf $(VENV)
