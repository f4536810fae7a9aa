# The two commands the README promises: `make demo` (install + main job), `make test` (install + tests).
PYTHON ?= python3

.PHONY: install demo test test-fast report

install:
	PYTHON=$(PYTHON) ./scripts/install.sh

demo: install
	quantwb sweep

test: install
	$(PYTHON) -m pytest -m "slow or not slow" -q

test-fast:
	$(PYTHON) -m pytest -q
