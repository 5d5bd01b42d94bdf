# The two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8501

.PHONY: run test chromium

# The stamp files make a second `make run` start at once instead of re-installing.
# The first install downloads about 3 GB and takes a few minutes: each stage says what it does, and pip shows
# what it downloads (with progress bars in a terminal) so a long wait is never silent.
$(VENV)/.runtime-installed: requirements.txt
	@test -x $(PY) || { echo "==> Creating the virtual environment $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> Updating pip"
	@$(PY) -m pip install --quiet --upgrade pip
	@if $(PY) -c "import torch, streamlit" 2>/dev/null; then \
	  echo "==> Updating the runtime packages to requirements.txt"; \
	  $(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt; \
	else \
	  echo "==> Installing the runtime packages (a few minutes; $(VENV) grows to about 6.6 GB, most of it PyTorch"; \
	  echo "    with its CUDA libraries, which also run on a CPU)"; \
	  $(PY) -m pip install --progress-bar on --disable-pip-version-check -r requirements.txt; \
	fi
	@echo "==> Installed: $$(du -sh $(VENV) | cut -f1) in $(VENV)"
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.runtime-installed
	@echo "==> Installing the test tools (pytest, Playwright's Python package, BM3D; about 175 MB)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime-installed
	$(PY) -m streamlit run streamlit_app.py --server.address $(HOST) --server.port $(PORT)

test: $(VENV)/.dev-installed chromium
	$(PY) -m pytest

# Browser tests drive Debian's chromium; Playwright never downloads a browser of its own.
# `env` sets the variable: as root SUDO is empty, and a leading "$SUDO VAR=value" would run VAR=value as a command.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
