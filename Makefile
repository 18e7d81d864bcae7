# One task runner. `make test` is the README's test command; `make goldens` rewrites every golden file.
PYTHON ?= .venv/bin/python

.PHONY: install test goldens lint schema bench clean

install:
	python3 -m venv .venv
	.venv/bin/pip install -e '.[test]'

test:
	$(PYTHON) -m pytest -m "not live" -n 2 -q

goldens:
	# Modules first: the examples' plan goldens plan the committed modules, so those must be current.
	$(PYTHON) -m pytest tests/test_examples.py tests/test_kitchen_sink.py -q --update-goldens -k golden
	$(PYTHON) -m pytest tests/test_cases.py tests/test_deploy.py -q --update-goldens -k "case or plan"
	@git status --short examples tests/cases tests/goldens tests/fixtures || true

lint:
	$(PYTHON) -m ruff format --check compiler tests benchmarks
	$(PYTHON) -m ruff check compiler tests benchmarks
	$(PYTHON) -m black --check --target-version py311 examples/*/generated
	$(PYTHON) -m mypy

schema:
	# One source (compiler/modalc/schema_source/manifest.py) -> the shipped, published and versioned schemas.
	$(PYTHON) -m modalc.schema_source

bench:
	$(PYTHON) benchmarks/bench.py

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache
