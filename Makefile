# The course pack's commands. A fresh machine needs only `make report` and `make test`:
# every target installs what it needs (venv, pinned packages, Debian packages for the PDF).
#
#   make setup                       .venv with the pinned packages, utils (editable), a kernel
#   make lab                         JupyterLab on notebooks/
#   make notebooks                   sync each .ipynb with its paired py:percent source
#   make run PROFILE=laptop SEEDS="0 1 2" NOTEBOOKS="00 01" [KEEP_GOING=1] [FORCE=1]
#   make report                      run, then build/report/report.html and report.pdf
#   make test                        unit tests, smoke runs of every notebook, hygiene checks
#   make bench                       benchmarks: ratios against references, side by side
#   make student                     build/student/: the pack with its exercises cut out
#   make grade [STUDENT=path] [EXERCISES="lstm_cell ..."]   grade an edition with the pack's tests
#   make clean                       remove build/ and figures/ (the run store is kept)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= laptop
SEEDS ?= 0 1 2
NOTEBOOKS ?=
KEEP_GOING ?=
FORCE ?=
BENCH ?=
STUDENT ?=
EXERCISES ?=
PYTEST_WORKERS ?= 2

RUN_FLAGS := --profile "$(PROFILE)" --seeds "$(SEEDS)" \
	$(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) \
	$(if $(KEEP_GOING),--keep-going) $(if $(FORCE),--force)

.PHONY: setup lab run report html pdf-deps test bench notebooks student grade clean distclean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml
	@echo "== setup: creating $(VENV) with the pinned packages (a few minutes the first time)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt -c constraints.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --user --name coursepack \
		--display-name "Course pack (.venv)" >/dev/null
	@touch $@
	@echo "== setup: done"

# Pair every notebook with its py:percent source (edit either; this brings the other in line).
notebooks: setup
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.ipynb notebooks/[0-9][0-9]_*.py

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

run: setup
	$(BIN)/python -m utils.runner $(RUN_FLAGS)

# Debian packages for the PDF: headless Chromium prints the HTML, libjs-mathjax renders math
# offline, poppler-utils checks the PDF. Installed when missing and apt is usable; otherwise
# the report is still built as HTML and the message says how to get the PDF.
pdf-deps:
	@if command -v chromium >/dev/null && test -f /usr/share/javascript/mathjax/MathJax.js \
			&& command -v pdftotext >/dev/null; then \
		exit 0; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "== installing chromium, libjs-mathjax and poppler-utils with apt (about a minute)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium libjs-mathjax poppler-utils fonts-liberation \
			>/dev/null) || echo "warning: apt-get failed; the report will be HTML only"; \
	else \
		echo "note: chromium/libjs-mathjax missing and apt unavailable: HTML only." \
			"Install 'chromium libjs-mathjax poppler-utils' (Debian/Ubuntu) to get the PDF."; \
	fi

report: setup pdf-deps
	@start=$$(date +%s); \
	$(BIN)/python -m utils.runner $(RUN_FLAGS); rc=$$?; \
	$(BIN)/python -m utils.report --profile "$(PROFILE)" --seeds "$(SEEDS)" \
		$(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) || rc=1; \
	echo "== make report: $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

html: setup
	$(BIN)/python -m utils.report --no-pdf --profile "$(PROFILE)" --seeds "$(SEEDS)"

# The tests include the PDF (tests/test_report_pdf.py), so they install what `make report` uses.
test: setup pdf-deps
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q tests

bench: setup
	$(BIN)/python -m bench $(BENCH)

# The student edition (utils/student.py; points and tests per exercise in grading.toml).
# `make grade` grades the pack itself; exit status 0 only with full points.
student: setup
	$(BIN)/python -m utils.student build

grade: setup
	$(BIN)/python -m utils.student grade $(if $(STUDENT),--student "$(STUDENT)") \
		$(if $(EXERCISES),--exercise $(EXERCISES))

clean:
	rm -rf build figures/*/

distclean: clean
	rm -rf $(VENV) data/cache
