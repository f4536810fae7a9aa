# The two commands the README promises: `make demo` (install + main job), `make test` (install + tests).
PYTHON ?= python3

.PHONY: install demo test test-fast test-slow lint docs report

install:
	PYTHON=$(PYTHON) ./scripts/install.sh

demo: install
	quantwb sweep

# Fast tests (tiny model) plus the slow SmolLM2 tests marked `ci`; `test-slow` runs every slow test.
test: install lint docs
	$(PYTHON) -m pytest -q -m "not slow or ci"

# The guard rails: ruff's rule set and import-linter's contracts (pyproject.toml): an arrow pointing back up fails, so does an import circle.
lint:
	$(PYTHON) -m ruff check quantwb tests bench scripts
	$(PYTHON) -c "from importlinter.cli import lint_imports_command; lint_imports_command()"

# The documentation (mkdocs.yml, docs/): built strictly, so a broken link between pages, a missing heading or a page
# missing from the nav fails. The site goes to a temporary folder, never into the checkout. (No --quiet: with it
# mkdocs drops the warnings that --strict counts, and a broken link would pass.)
docs:
	site=$$(mktemp -d) && $(PYTHON) -m mkdocs build --strict --site-dir "$$site"; status=$$?; rm -rf "$$site"; exit $$status

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
	cp $(REPORT_RESULTS)/report.md $(REPORT_RESULTS)/report.html $(REPORT_RESULTS)/report.json reports/default/  # the sweep's own: it names the measuring code (tests/test_report_fresh.py)
