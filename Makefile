# make test: create .venv when missing, install the project into it (exact versions from
#            requirements/lock.txt), run the test suite.
# make lock: regenerate requirements/lock.txt from setup.cfg (CPython 3.11, Linux x86-64).
# make demo: run the VoxCeleb recipe on the mini corpus ($BCCMT_DATA), or download it first
#            (recipe stage 0) from $BCCMT_DATA_URL, checked against $BCCMT_DATA_SHA256, into
#            $BCCMT_CACHE/minivox (downloaded once; later runs reuse it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bccmt-installed
LOCK := requirements/lock.txt
EXTRAS := test,onnx,plot
UV_VERSION := 0.13.9
BCCMT_DATA ?=
BCCMT_DATA_URL ?=
BCCMT_DATA_SHA256 ?=
BCCMT_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/bccmt-tools
DEMO_DIR ?= egs/voxceleb
comma := ,

.PHONY: test demo venv clean-venv bench lock

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(LOCK) -e '.[$(EXTRAS)]'
	touch $@

# Exact versions of every dependency for CPython 3.11 on Linux x86-64 (torch's CUDA-enabled PyPI
# wheels included: they run on CPUs too). Edit setup.cfg, then `make lock` and commit both.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'uv==$(UV_VERSION)'
	$(VENV)/bin/uv pip compile setup.cfg $(foreach e,$(subst $(comma), ,$(EXTRAS)),--extra $(e)) \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --index-url https://pypi.org/simple --upgrade -o $(LOCK)

test: $(STAMP)
	$(PY) -m pytest -q -ra

demo: $(STAMP)
	@if [ -n "$(BCCMT_DATA)" ]; then \
	  set -- --data-root "$(abspath $(BCCMT_DATA))" --stage 1; \
	elif [ -n "$(BCCMT_DATA_URL)" ] && [ -n "$(BCCMT_DATA_SHA256)" ]; then \
	  set -- --stage 0 --download-url "$(BCCMT_DATA_URL)" --download-sha256 "$(BCCMT_DATA_SHA256)" \
	    --download-dir "$(abspath $(BCCMT_CACHE))/minivox"; \
	else \
	  echo "make demo: no corpus. Set BCCMT_DATA=path/to/minivox (e.g. BCCMT_DATA=../shared/data/minivox make demo)," >&2; \
	  echo "  or BCCMT_DATA_URL=<URL of a minivox .tar.gz/.zip> and BCCMT_DATA_SHA256=<its SHA-256> to download it" >&2; \
	  echo "  into $(BCCMT_CACHE)/minivox (BCCMT_CACHE)." >&2; \
	  exit 2; \
	fi; \
	echo "cd $(DEMO_DIR) && ./run.sh $$* --preset mini --stop-stage 12"; \
	cd $(DEMO_DIR) && PATH="$(abspath $(VENV))/bin:$$PATH" ./run.sh "$$@" --preset mini --stop-stage 12

clean-venv:
	rm -rf $(VENV)

# make docs: regenerate docs/tools.md (every tool's --help) and the tables of docs/model.md and
#            docs/distillation.md from the code (tests/test_docs.py checks they are current).
# make docs-figures: redraw docs/figures/bccmt_block.svg (matplotlib).
.PHONY: docs docs-figures
docs: $(STAMP)
	$(PY) docs/make_tools_md.py
	$(PY) docs/make_tables.py

docs-figures: $(STAMP)
	$(PY) docs/draw_block.py
