# make test: create .venv when missing, install the project into it (exact versions from
#            requirements/lock.txt), run the test suite.
# make lock: regenerate requirements/lock.txt from setup.cfg (CPython 3.11, Linux x86-64).
# make demo: run the VoxCeleb recipe (stages 1-12) and print where its results are. With nothing
#            set: on the tiny corpus inside the repository (egs/voxceleb/tinyvox, preset tinyvox, a few
#            minutes on 2 cores). With $BCCMT_DATA: on that corpus (the mini corpus) with preset mini;
#            or with $BCCMT_DATA_URL and $BCCMT_DATA_SHA256: download it first (recipe stage 0),
#            checked against the SHA-256, into $BCCMT_CACHE/minivox (once; later runs reuse it).
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
TINYVOX ?= egs/voxceleb/tinyvox
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
	@preset=mini; \
	if [ -n "$(BCCMT_DATA)" ]; then \
	  set -- --data-root "$(abspath $(BCCMT_DATA))" --stage 1; \
	elif [ -n "$(BCCMT_DATA_URL)" ] && [ -n "$(BCCMT_DATA_SHA256)" ]; then \
	  set -- --stage 0 --download-url "$(BCCMT_DATA_URL)" --download-sha256 "$(BCCMT_DATA_SHA256)" \
	    --download-dir "$(abspath $(BCCMT_CACHE))/minivox"; \
	elif [ -d "$(TINYVOX)/voxceleb1" ]; then \
	  preset=tinyvox; \
	  set -- --data-root "$(abspath $(TINYVOX))" --stage 1; \
	else \
	  echo "make demo: no corpus: $(TINYVOX) (the tiny corpus of the repository) is missing." >&2; \
	  echo "  Set BCCMT_DATA=path/to/minivox (e.g. BCCMT_DATA=../shared/data/minivox make demo)," >&2; \
	  echo "  or BCCMT_DATA_URL=<URL of a minivox .tar.gz/.zip> and BCCMT_DATA_SHA256=<its SHA-256> to download it" >&2; \
	  echo "  into $(BCCMT_CACHE)/minivox (BCCMT_CACHE)." >&2; \
	  exit 2; \
	fi; \
	echo "cd $(DEMO_DIR) && ./run.sh $$* --preset $$preset --stop-stage 12"; \
	cd $(DEMO_DIR) && PATH="$(abspath $(VENV))/bin:$$PATH" ./run.sh "$$@" --preset $$preset --stop-stage 12 || exit $$?; \
	echo; echo "make demo: done (preset $$preset). Results:"; \
	for results in exp/*_$$preset/RESULTS.md; do \
	  if [ -f "$$results" ]; then echo "  $(DEMO_DIR)/$$results"; fi; \
	done

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
