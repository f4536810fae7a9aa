# The two commands the README promises: `make demo` (install + main job), `make test` (install + tests).
PYTHON ?= python3

.PHONY: install demo test test-fast test-slow report

install:
	PYTHON=$(PYTHON) ./scripts/install.sh

demo: install
	quantwb sweep

# Fast tests (tiny model) plus the slow SmolLM2 tests marked `ci`; `test-slow` runs every slow test.
test: install
	$(PYTHON) -m pytest -q -m "not slow or ci"

test-fast:
	$(PYTHON) -m pytest -q

test-slow:
	$(PYTHON) -m pytest -q -m slow

# The published example report (reports/default/): the default sweep on smollm2-135m, rendered by
# quantwb itself. Regenerate with `make report`; never edit the files by hand.
REPORT_RESULTS ?= results/default
report:
	quantwb sweep --results $(REPORT_RESULTS)
	mkdir -p reports/default
	for fmt in md html json; do quantwb compare $(REPORT_RESULTS)/records --out reports/default/report.$$fmt || exit 1; done
