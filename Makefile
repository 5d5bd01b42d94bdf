# The two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8501

.PHONY: run test chromium

# The stamp files make a second `make run` start at once instead of re-installing.
$(VENV)/.runtime-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.runtime-installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

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
