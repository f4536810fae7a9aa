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

# The published example report (reports/default/): the default sweep on smollm2-135m, rendered by
# quantwb itself. Regenerate with `make report`; never edit the files by hand.
REPORT_RESULTS ?= results/default
report:
	quantwb sweep --results $(REPORT_RESULTS)
	mkdir -p reports/default
	for fmt in md html json; do quantwb compare $(REPORT_RESULTS)/records --out reports/default/report.$$fmt || exit 1; done
