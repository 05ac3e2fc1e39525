# Two commands do everything on a fresh Linux machine with Python >= 3.10 and make:
#   make lab    set up (once) and open the course in JupyterLab
#   make test   set up (once) and run every test: unit tests, nbval over every notebook, then
#               every lesson in JupyterLab in headless Chromium (skipped, saying why, without it)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Progress bars would make stored notebook outputs differ; the kernel inherits this.
# (No MPLBACKEND for notebooks: ipykernel picks its inline backend only when it is unset.)
TESTENV := LABKIT_NO_PROGRESS=1 PYTHONHASHSEED=0

.PHONY: setup lab test lint unit notebooks site browser execute bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed; found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): install your Python's venv module (Debian/Ubuntu: apt install python3-venv)"; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,site]'
	@touch $(STAMP)

# Extra options for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port 8899"
LAB_ARGS ?=
lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(LAB_ARGS) $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

test: lint unit notebooks site browser

# ruff (pyflakes, bugbear, pycodestyle, pyupgrade) on the package, tests and bench; mypy on labkit.
lint: setup
	$(VENV)/bin/ruff check labkit tests bench
	$(VENV)/bin/mypy

unit: setup
	$(TESTENV) MPLBACKEND=Agg $(PY) -m pytest -q tests --ignore=tests/browser

# nbval twice: as stored (no progress bars), then as under `make lab`, where every run
# shows a progress bar from its start: a bar must never change a result.
notebooks: setup
	$(TESTENV) $(PY) -m pytest -q --nbval --nbval-current-env notebooks
	env -u CI -u LABKIT_NO_PROGRESS LABKIT_PROGRESS=always PYTHONHASHSEED=0 \
	  $(PY) -m pytest -q --nbval --nbval-current-env notebooks

# The course site from the notebooks as stored (never executed), warnings as errors, offline:
# build/site/index.html. `make browser` then opens every page of it in headless Chromium.
site: setup
	$(PY) -m labkit.site

# JupyterLab from this checkout in headless Chromium: run every notebook, move each lesson's
# first control, check its figure changed; screenshots in tests/browser/screenshots/.
# Also every page of the course site (test_site.py; builds it first unless build/site/ is current).
browser: setup
	PYTHONHASHSEED=0 $(PY) -m pytest -q -rs tests/browser

# Re-execute notebooks in place, the way their stored outputs were made (maintainers):
#   make execute            every lesson      make execute NB=02      one lesson
NB ?= *
execute: setup
	cd notebooks && for nb in $(NB)*.ipynb; do \
	  $(TESTENV) ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.record_timing=False "$$nb" || exit 1; \
	  ../$(PY) -m labkit._nbclean "$$nb"; done

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .hypothesis
