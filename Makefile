# Two commands: `make demo` serves the hub, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-gpu setup browser clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m demos.launch

# Debian's Chromium for the real-browser tests (Playwright drives it; no browser download). Without apt the
# browser tests skip with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: the browser tests will skip"

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests

# On a machine with a CUDA GPU and torch installed (no venv, no gradio needed): the GPU checks alone.
test-gpu:
	HF_HUB_OFFLINE=1 $(PYTHON) tests/test_gpu.py

clean-venv:
	rm -rf $(VENV)
