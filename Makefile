# energystat — the two commands of the README are `make demo` and `make test`; the rest are conveniences.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
UV    := $(shell command -v uv 2>/dev/null || echo $(BIN)/uv)
DEMO_INSTITUTIONS ?= 600

.PHONY: install demo test test-stack test-external lint airflow cluster up down docs bench bench-quick clean stop

# Install Python 3.11 deps from uv.lock into .venv (uv itself is bootstrapped with pip if missing).
# --compile-bytecode (and compileall for the project's own code): every Airflow process (task runners, DAG parses)
# would otherwise compile its imports from source where PYTHONDONTWRITEBYTECODE is set (CI, containers):
# `import airflow.sdk` 3.9 s without .pyc, 1.7 s with.
$(BIN)/energystat: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || test -x "$$HOME/.local/bin/uv" || python3 -m pip install --quiet --user 'uv==0.13.8' || python3 -m pip install --quiet 'uv==0.13.8'
	@PATH="$$HOME/.local/bin:$$PATH" uv sync --frozen --python 3.11 --compile-bytecode
	@$(BIN)/python -m compileall -q -j 0 include plugins dags >/dev/null
	@touch $@

install: $(BIN)/energystat

## The main job end to end on the embedded warehouse: sample data -> validated loads -> marts -> circular.
demo: install
	$(BIN)/energystat demo --institutions $(DEMO_INSTITUTIONS)

## The test suite (embedded PostgreSQL unless ENERGYSTAT_WAREHOUSE_DSN is set), with the pipeline through the real
## Airflow stack: LocalExecutor, and CeleryExecutor with two workers when Redis and PostgreSQL answer on 127.0.0.1
## (skipped with a message otherwise; ENERGYSTAT_REQUIRE_CLUSTER=1, set by CI, makes that skip a failure).
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

## The slow scenarios on the whole Airflow stack, not in `make test`: the reminders on a fake clock, the review
## loop answered over REST, build_marts in watcher mode with a failing dbt test.
test-stack: install
	ENERGYSTAT_STACK_TESTS=1 $(BIN)/python -m pytest -q -m stack $(PYTEST_ARGS)

## The connection/migration tests against an external server (CI: 127.0.0.1:5432).
test-external: install
	$(BIN)/python -m pytest -q -m external_pg $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

## Airflow UI on http://localhost:8080 (api-server, scheduler, dag-processor, triggerer; LocalExecutor). Ctrl-C stops it.
airflow: install
	$(BIN)/energystat airflow up

## The same with CeleryExecutor and two Celery workers as local processes (needs Redis on 127.0.0.1:6379).
cluster: install
	$(BIN)/energystat airflow cluster --workers $(or $(WORKERS),2)

## The production-shaped stack in Docker (docker-compose.yaml; copy .env.example to .env first).
up:
	docker compose up -d --build

down:
	docker compose down

## dbt docs site (lineage graph) on http://localhost:8081.
docs: install
	$(BIN)/energystat marts docs --serve

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m bench.run --quick

stop:
	-$(BIN)/energystat warehouse stop

clean: stop
	rm -rf .energystat dbt_project/target dbt_project/logs
