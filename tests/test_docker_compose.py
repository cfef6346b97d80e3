"""The docker compose stack, checked without a Docker engine (none runs on these machines).

docker-compose.yaml, .env.example, the Dockerfile and the two init scripts must agree with each other and
with the project: the executor, the DSNs and the databases they name, the folders, and the names of the
environment variables energystat actually reads. A typo in any of these breaks a test here instead of a
production start.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from energystat import config, dbt_runner, roles, warehouse
from energystat.orchestration import environment as airflow_env
from energystat.orchestration import metadata_db

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
POSTGRES_INIT_DIR = ROOT / "docker" / "postgres-init"
AIRFLOW_INIT_SCRIPT = ROOT / "docker" / "airflow-init.sh"

#: Airflow services of the stack and the `airflow` sub-command each runs.
AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker --queues default,heavy",
}
AIRFLOW_SERVICES = [*AIRFLOW_COMMANDS, "airflow-init"]
REQUIRED_SERVICES = {"postgres", "redis", *AIRFLOW_SERVICES}
#: The services that hold the server's superuser password (the warehouse's owner): the server itself and the
#: one-shot set-up. Every other service runs for good and must not (a compromised task would own the warehouse).
OWNER_SERVICES = {"postgres", "airflow-init"}
#: The warehouse roles whose passwords each service gets (energystat.roles); a service not listed gets none.
ROLE_PASSWORDS_OF = {
    "airflow-init": set(roles.APP_ROLES.values()),  # `warehouse migrate` sets them all on the server
    "airflow-worker": {roles.LOADER, roles.TRANSFORMER},  # the tasks' roles
    "portal": {roles.PORTAL},
}
#: Variables compose must refuse to start without (no secret has a default).
REQUIRED_SECRETS = {
    "POSTGRES_PASSWORD",
    "AIRFLOW_DB_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    *(roles.password_env(role) for role in roles.APP_ROLES.values()),
}
#: Container variables read by the official image's entrypoint or the OS, not by energystat.
IMAGE_RUNTIME_VARS = {"TZ", "DUMB_INIT_SETSID"}
#: Where energystat's own code and configuration live (searched for the names it reads).
PROJECT_SOURCES = ["include/energystat", "dags", "plugins", "config", "dbt_project", "docker"]
SOURCE_SUFFIXES = {".py", ".cfg", ".yml", ".yaml", ".sql", ".sh"}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; `$$` is a literal `$`.
_COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
_CJK = re.compile(r"[\u4e00-\u9fff]")


# --- a small model of compose's variable interpolation --------------------------------------------------


class MissingVariable(Exception):
    """Compose would stop with `required variable NAME is missing a value: <message>`."""


def interpolate(text: str, env: Mapping[str, str], missing: list[str] | None = None) -> str:
    """Substitute `${...}` as docker compose does; required variables without value go to `missing`."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        empty = value is None or (value == "" and operator in (":-", ":?"))
        if operator in ("?", ":?") and empty:
            if missing is None:
                raise MissingVariable(f"{name}: {argument}")
            missing.append(name)
            return ""
        if operator in ("-", ":-") and empty:
            return argument
        return value or ""

    parts = text.split("$$")
    return "$".join(_COMPOSE_VAR.sub(substitute, part) for part in parts)


def variables_used(text: str) -> set[str]:
    return {m.group(1) for part in text.split("$$") for m in _COMPOSE_VAR.finditer(part)}


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from walk_strings(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)


def interpolate_tree(node: Any, env: Mapping[str, str], missing: list[str] | None = None) -> Any:
    if isinstance(node, str):
        return interpolate(node, env, missing)
    if isinstance(node, Mapping):
        return {k: interpolate_tree(v, env, missing) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env, missing) for item in node]
    return node


def read_env_file(path: Path) -> dict[str, tuple[str, list[str]]]:
    """`NAME=value` lines of an env file, each with the comment lines right above it."""
    entries: dict[str, tuple[str, list[str]]] = {}
    comments: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped.lstrip("# "))
        elif "=" in stripped:
            name, value = stripped.split("=", 1)
            entries[name.strip()] = (value.strip(), comments)
            comments = []
        else:
            comments = []
    return entries


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example_env() -> dict[str, tuple[str, list[str]]]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def dot_env(example_env: dict[str, tuple[str, list[str]]]) -> dict[str, str]:
    """A filled-in `.env`: the example's values, each empty secret replaced by a distinct URL-safe one."""
    return {name: value or f"example-{name.lower().replace('_', '-')}" for name, (value, _) in example_env.items()}


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any], dot_env: dict[str, str]) -> dict[str, Any]:
    """The compose file as docker compose sees it with that `.env`."""
    return interpolate_tree(raw_compose, dot_env)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def service_env(services: Mapping[str, Any], name: str) -> dict[str, str]:
    """A service's environment as compose builds it: its `env_file`s, then `environment` on top."""
    env = services[name].get("environment") or {}
    assert isinstance(env, Mapping), f"{name}: environment must be a mapping (NAME: value), got {type(env)}"
    from_files: dict[str, str] = {}
    for path in services[name].get("env_file") or []:
        from_files.update(airflow_env.read_env_file(ROOT / path))
    return {**from_files, **{key: str(value) for key, value in env.items()}}


@pytest.fixture(scope="module")
def airflow_env_of(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: service_env(services, name) for name in AIRFLOW_SERVICES}


@pytest.fixture(scope="module")
def common_env(airflow_env_of: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment every Airflow service shares (the apiserver's, checked equal to the others)."""
    return airflow_env_of["airflow-apiserver"]


@pytest.fixture(scope="module")
def project_text() -> str:
    """All of energystat's code and configuration, to look up the variable names it reads."""
    files = [
        path
        for folder in PROJECT_SOURCES
        for path in sorted((ROOT / folder).rglob("*"))
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and "target" not in path.parts
    ]
    return "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in files)


# --- services --------------------------------------------------------------------------------------------


def test_compose_file_parses_with_every_service(raw_compose: dict[str, Any]) -> None:
    assert set(raw_compose["services"]) >= REQUIRED_SERVICES, (
        f"missing services: {sorted(REQUIRED_SERVICES - set(raw_compose['services']))}"
    )


def test_each_airflow_service_runs_its_component(services: dict[str, dict[str, Any]]) -> None:
    for name, command in AIRFLOW_COMMANDS.items():
        assert services[name]["command"] == command, name
    assert services["airflow-apiserver"]["ports"] and all(
        str(port).endswith(":8080") for port in services["airflow-apiserver"]["ports"]
    )


def test_long_running_services_have_healthchecks_and_wait_for_init(services: dict[str, dict[str, Any]]) -> None:
    for name in REQUIRED_SERVICES - {"airflow-init"}:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in AIRFLOW_COMMANDS:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


# --- executor and databases ------------------------------------------------------------------------------


def test_all_airflow_services_share_the_celery_executor_and_one_metadata_db(
    airflow_env_of: dict[str, dict[str, str]], common_env: dict[str, str]
) -> None:
    for name, env in airflow_env_of.items():
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        shared = ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND",
                  "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "ENERGYSTAT_AIRFLOW_DB_DSN"]
        if name not in OWNER_SERVICES:  # airflow-init reaches the same warehouse as its owner (see below)
            shared += [config.WAREHOUSE_DSN_ENV, dbt_runner.AIRFLOW_CONN_ENV]
        for key in shared:
            assert env.get(key) == common_env.get(key), f"{name}: {key} differs from the api server's"


def test_metadata_db_uri_points_at_the_airflow_database(
    common_env: dict[str, str], services: dict[str, dict[str, Any]], dot_env: dict[str, str]
) -> None:
    from sqlalchemy.engine import make_url

    pg = service_env(services, "postgres")
    url = make_url(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg2", "postgres", 5432, warehouse.AIRFLOW_DB
    )
    # Its own role (airflow-init makes it the database's owner), never the server's superuser.
    assert url.username != pg["POSTGRES_USER"] and url.password == dot_env["AIRFLOW_DB_PASSWORD"]
    # Celery keeps task results in the same database (`db+` prefix, as in Airflow's compose file).
    backend = common_env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend.startswith("db+")
    result_url = make_url(backend.removeprefix("db+"))
    assert (result_url.host, result_url.database, result_url.username) == (url.host, url.database, url.username)
    # energystat's own setting for the metadata DB maps to the very same URI.
    assert airflow_env.sqlalchemy_uri(common_env["ENERGYSTAT_AIRFLOW_DB_DSN"]) == str(
        common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )


def test_warehouse_dsn_is_a_libpq_uri_on_the_energystat_database(
    common_env: dict[str, str], services: dict[str, dict[str, Any]]
) -> None:
    pg = service_env(services, "postgres")
    dsn = common_env[config.WAREHOUSE_DSN_ENV]
    assert urlsplit(dsn).scheme in ("postgresql", "postgres")
    params = conninfo_to_dict(dsn)  # libpq's own parser: raises on a malformed URI
    assert params["host"] == "postgres"
    assert params.get("port", "5432") == "5432"
    assert params["dbname"] == warehouse.WAREHOUSE_DB != warehouse.AIRFLOW_DB
    assert "user" not in params and "password" not in params  # the server and database only: roles bring theirs
    # Airflow's `warehouse` connection and dbt's profile reach the same database.
    conn_uri = common_env[dbt_runner.AIRFLOW_CONN_ENV]
    assert urlsplit(conn_uri).scheme in ("postgresql", "postgres")
    assert conninfo_to_dict(conn_uri) == params
    dbt = dbt_runner.dbt_env(dsn)
    assert (dbt["ENERGYSTAT_DBT_HOST"], dbt["ENERGYSTAT_DBT_DBNAME"]) == ("postgres", warehouse.WAREHOUSE_DB)
    # The one-shot set-up reaches the same database as its owner, the server's superuser.
    init = service_env(services, "airflow-init")
    for key in (config.WAREHOUSE_DSN_ENV, dbt_runner.AIRFLOW_CONN_ENV):
        owner = conninfo_to_dict(init[key])
        assert (owner["user"], owner["password"]) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"]), key
        assert {k: v for k, v in owner.items() if k not in ("user", "password")} == params, key


def test_celery_settings_come_from_the_one_file_the_local_cluster_reads(
    raw_compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """docker compose and `make cluster` share config/celery.env; compose's `environment` must not override it."""
    shared = airflow_env.read_env_file(airflow_env.CELERY_ENV_FILE)
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name in AIRFLOW_SERVICES:
        assert services[name]["env_file"] == [f"./{airflow_env.CELERY_ENV_FILE.relative_to(ROOT).as_posix()}"], name
        assert not set(shared) & set(services[name].get("environment") or {}), f"{name} overrides celery.env"
    # The compose worker serves the queues the local workers serve, and those hold the DAGs' queues.
    queues = services["airflow-worker"]["command"].split("--queues", 1)[1].split()[0]
    assert queues == shared["ENERGYSTAT_WORKER_QUEUES"]
    glue = (ROOT / "include/energystat/orchestration/glue.py").read_text(encoding="utf-8")
    dag_queues = set(re.findall(r'(?m)^(?:HEAVY|DEFAULT)_QUEUE = "(\w+)"', glue))
    assert dag_queues and dag_queues <= set(queues.split(",")), dag_queues
    assert shared["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] in queues.split(",")


def test_broker_is_the_redis_service(common_env: dict[str, str], services: dict[str, dict[str, Any]]) -> None:
    broker = urlsplit(common_env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    assert 6379 in [int(port) for port in services["redis"].get("expose", [])]


def test_workers_reach_the_execution_api_of_the_api_server(common_env: dict[str, str]) -> None:
    url = urlsplit(common_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("http", "airflow-apiserver", 8080, "/execution/")


def test_postgres_init_creates_every_database_the_dsns_name(
    common_env: dict[str, str], services: dict[str, dict[str, Any]]
) -> None:
    from sqlalchemy.engine import make_url

    postgres = services["postgres"]
    assert f"./{POSTGRES_INIT_DIR.relative_to(ROOT)}:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    scripts = sorted(POSTGRES_INIT_DIR.glob("*.sql"))
    assert scripts, f"no SQL script in {POSTGRES_INIT_DIR}"
    created = {
        name.strip('"')
        for script in scripts
        for name in re.findall(r"(?im)^\s*create\s+database\s+(\"?\w+\"?)", script.read_text(encoding="utf-8"))
    }
    existing = created | {service_env(services, "postgres")["POSTGRES_DB"]}
    named = {
        make_url(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).database,
        conninfo_to_dict(common_env[config.WAREHOUSE_DSN_ENV])["dbname"],
        conninfo_to_dict(common_env[dbt_runner.AIRFLOW_CONN_ENV])["dbname"],
        conninfo_to_dict(common_env["ENERGYSTAT_AIRFLOW_DB_DSN"])["dbname"],
    }
    assert named <= existing, f"databases no init script creates: {sorted(named - existing)}"


# --- least privilege: who holds which database password -------------------------------------------------


def roles_given(env: Mapping[str, str]) -> set[str]:
    """The warehouse roles a container can connect as: those whose password or DSN it is given."""
    return {role for role in roles.APP_ROLES.values() if roles.password_env(role) in env or roles.dsn_env(role) in env}


def test_only_the_server_and_the_one_shot_set_up_hold_the_owners_password(
    raw_compose: dict[str, Any], services: dict[str, dict[str, Any]], dot_env: dict[str, str]
) -> None:
    """The warehouse's owner is the server's superuser: a long-running service holding its password (in any
    variable, in any DSN) would hand a compromised task the whole server."""
    owner, secret = service_env(services, "postgres")["POSTGRES_USER"], dot_env["POSTGRES_PASSWORD"]
    for name in services:
        env = service_env(services, name)
        holding = sorted(key for key, value in env.items() if secret in value)
        if name in OWNER_SERVICES:
            assert holding, f"{name} needs the owner's password"
            continue
        assert holding == [], f"{name} holds the owner's password in {holding}"
        as_owner = sorted(key for key, value in env.items() if re.match(r"^(db\+)?postgres(ql)?(\+\w+)?://", value)
                          and urlsplit(value.removeprefix("db+")).username == owner)
        assert as_owner == [], f"{name} connects as the owner ({owner}) with {as_owner}"
        # As written too, before interpolation: no use of the variable at all, whatever its value.
        written = {v for text in walk_strings(raw_compose["services"][name]) for v in variables_used(text)}
        assert "POSTGRES_PASSWORD" not in written, name


def test_each_service_gets_the_role_passwords_of_its_jobs_and_no_other(
    services: dict[str, dict[str, Any]], dot_env: dict[str, str]
) -> None:
    for name in services:
        env = service_env(services, name)
        given = roles_given(env)
        assert given == ROLE_PASSWORDS_OF.get(name, set()), f"{name}: roles {sorted(given)}"
        for role in given:
            assert env[roles.password_env(role)] == dot_env[roles.password_env(role)], (name, role)
        others = {dot_env[roles.password_env(role)] for role in set(roles.APP_ROLES.values()) - given}
        assert not [key for key, value in env.items() if any(other in value for other in others)], name
    for role in roles.APP_ROLES.values():  # each is required and documented (test_every_compose_variable_…)
        assert roles.password_env(role) in REQUIRED_SECRETS


def _as_container(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """This process's environment as the container's: its variables, and none of energystat's from here."""
    for key in list(os.environ):
        if key.startswith(("ENERGYSTAT_", "AIRFLOW_CONN_", "PG")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_the_worker_environment_gives_each_task_its_role_on_the_warehouse(
    services: dict[str, dict[str, Any]], dot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """energystat's one lookup order (energystat.roles), run on the worker's environment: the loader's and the
    transformer's DSNs on the `postgres` service's warehouse, with the passwords of .env; dbt gets the latter."""
    _as_container(monkeypatch, service_env(services, "airflow-worker"))
    base = warehouse.warehouse_dsn()  # a configured server: nothing embedded starts
    assert not warehouse.is_embedded()
    for role in (roles.LOADER, roles.TRANSFORMER):
        params = conninfo_to_dict(roles.role_dsn(role, base))
        assert (params["user"], params["password"], params["host"], params["dbname"]) == (
            role, dot_env[roles.password_env(role)], "postgres", warehouse.WAREHOUSE_DB)
    profile = dbt_runner.env_for_profile()
    assert (profile["ENERGYSTAT_DBT_USER"], profile["ENERGYSTAT_DBT_PASSWORD"]) == (
        roles.TRANSFORMER, dot_env[roles.password_env(roles.TRANSFORMER)])


def test_the_portal_has_its_role_and_none_of_airflows_secrets(
    services: dict[str, dict[str, Any]], dot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_env(services, "portal")
    for secret in ("AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"):
        assert not [key for key, value in env.items() if dot_env[secret] in value], f"the portal holds {secret}"
    _as_container(monkeypatch, env)
    assert config.portal_settings().dsn is None  # so energystat.portal.app.portal_dsn uses the role's DSN
    params = conninfo_to_dict(roles.role_dsn(roles.PORTAL, warehouse.warehouse_dsn()))
    assert (params["user"], params["password"], params["host"], params["dbname"]) == (
        roles.PORTAL, dot_env[roles.password_env(roles.PORTAL)], "postgres", warehouse.WAREHOUSE_DB)


def test_a_mistyped_role_password_is_caught(
    raw_compose: dict[str, Any], dot_env: dict[str, str], project_text: str
) -> None:
    """The worker given ENERGYSTAT_LOADER_PASWORD would fall back to a pgpass of generated passwords the server
    does not know: ingestion would fail at night. Both checks above see it."""
    broken = copy.deepcopy(raw_compose)
    worker = broken["services"]["airflow-worker"]["environment"]
    worker["ENERGYSTAT_LOADER_PASWORD"] = worker.pop("ENERGYSTAT_LOADER_PASSWORD")
    services = interpolate_tree(broken, dot_env)["services"]
    assert roles_given(service_env(services, "airflow-worker")) == {roles.TRANSFORMER}
    assert unread_names(services, project_text) == {("airflow-worker", "ENERGYSTAT_LOADER_PASWORD")}


# --- variables -------------------------------------------------------------------------------------------


def test_every_compose_variable_is_documented_in_env_example(
    raw_compose: dict[str, Any], example_env: dict[str, tuple[str, list[str]]]
) -> None:
    used = {name for text in walk_strings(raw_compose) for name in variables_used(text)}
    assert used, "no ${VARIABLE} found: the parser of this test is broken"
    assert sorted(used - set(example_env)) == [], "used in docker-compose.yaml, missing from .env.example"
    assert sorted(set(example_env) - used) == [], "in .env.example, never used by docker-compose.yaml"
    for name, (_, comments) in example_env.items():
        text = " ".join(comments)
        assert _CJK.search(text) and re.search(r"[A-Za-z]{4,}", text), (
            f".env.example: {name} needs a comment in Chinese and English right above it"
        )


def test_compose_refuses_to_start_without_the_secrets(
    raw_compose: dict[str, Any], example_env: dict[str, tuple[str, list[str]]]
) -> None:
    for name in REQUIRED_SECRETS:
        assert example_env[name][0] == "", f".env.example must not ship a value for the secret {name}"
    missing: list[str] = []
    interpolate_tree(raw_compose, {name: value for name, (value, _) in example_env.items()}, missing)
    assert set(missing) == REQUIRED_SECRETS
    # ...and no use of a secret falls back to a default (a service could start with a known password).
    for text in walk_strings(raw_compose):
        for part in text.split("$$"):
            for match in _COMPOSE_VAR.finditer(part):
                if match.group(1) in REQUIRED_SECRETS:
                    assert match.group(2) == ":?", f"{match.group(0)} must be ${{{match.group(1)}:?...}}"


def unread_names(services: Mapping[str, Any], project_text: str) -> set[tuple[str, str]]:
    """(service, variable) pairs passed to a container that energystat's sources never name."""
    return {
        (service, name)
        for service in services
        for name in service_env(services, service)
        if not name.startswith(("AIRFLOW__", "POSTGRES_"))
        and name not in IMAGE_RUNTIME_VARS
        and not re.search(rf"\b{re.escape(name)}\b", project_text)
    }


def test_container_variables_are_ones_the_project_reads(
    services: dict[str, dict[str, Any]], project_text: str
) -> None:
    """A typo such as ENERGYSTAT_WAREHOUSE_DNS sets a variable nobody reads: the platform would silently
    fall back to its defaults. Every name passed to a container must occur in energystat's sources."""
    assert sorted(unread_names(services, project_text)) == []


def test_the_settings_energystat_needs_are_set(common_env: dict[str, str]) -> None:
    for name in (config.WAREHOUSE_DSN_ENV, config.AIRFLOW_CONN_ENV, config.ALERT_URLS_ENV, "ENERGYSTAT_HOME",
                 "ENERGYSTAT_LANDING_DIR", "ENERGYSTAT_QUARANTINE_DIR", "ENERGYSTAT_CIRCULAR_DIR"):
        assert name in common_env, name


def _package_dir(name: str) -> Path:
    """A package's folder without importing it (importing Airflow costs ~7 s)."""
    spec = importlib.util.find_spec(name)
    assert spec and spec.origin, f"{name} is not installed"
    return Path(spec.origin).parent


def _airflow_config_options() -> dict[str, set[str]]:
    template = _package_dir("airflow") / "config_templates" / "config.yml"
    options = {section: set(body["options"]) for section, body in yaml.safe_load(template.read_text()).items()}
    cosmos_source = (_package_dir("cosmos") / "settings.py").read_text(encoding="utf-8")
    options["cosmos"] = set(re.findall(r"\"cosmos\",\s*\"(\w+)\"", cosmos_source))
    # The Celery provider's settings, read from its provider info without importing Airflow.
    spec = importlib.util.spec_from_file_location(
        "celery_provider_info", _package_dir("airflow") / "providers" / "celery" / "get_provider_info.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for section, body in module.get_provider_info()["config"].items():
        options.setdefault(section, set()).update(body["options"])
    return options


def test_airflow_settings_exist(airflow_env_of: dict[str, dict[str, str]]) -> None:
    known = _airflow_config_options()
    for service, env in airflow_env_of.items():
        for name in env:
            if name.startswith("AIRFLOW__"):
                section, _, option = name.removeprefix("AIRFLOW__").lower().partition("__")
                assert option in known.get(section, set()), f"{service}: {name} is not an Airflow setting"


# --- folders ---------------------------------------------------------------------------------------------


def _bind_mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """container path -> host path of the service's `host:container[:mode]` volumes."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container = str(volume).split(":")[:2]
        mounts[container] = host
    return mounts


def test_project_folders_are_mounted_where_energystat_expects_them(
    services: dict[str, dict[str, Any]], common_env: dict[str, str]
) -> None:
    home = PurePosixPath(common_env["ENERGYSTAT_HOME"])
    dockerfile_home = re.search(r"ENERGYSTAT_HOME=(\S+)", DOCKERFILE.read_text(encoding="utf-8"))
    assert dockerfile_home and dockerfile_home.group(1) == str(home)

    def in_container(path: Path) -> str:
        return str(home / path.relative_to(config.PROJECT_ROOT).as_posix())

    assert common_env["AIRFLOW__CORE__DAGS_FOLDER"] == in_container(config.DAGS_DIR)
    assert common_env["AIRFLOW__CORE__PLUGINS_FOLDER"] == in_container(config.PLUGINS_DIR)
    assert common_env["AIRFLOW_CONFIG"] == in_container(config.AIRFLOW_CONFIG_FILE)
    assert config.AIRFLOW_CONFIG_FILE.is_file()
    for name in AIRFLOW_SERVICES:
        mounts = _bind_mounts(services[name])
        for folder in (config.DAGS_DIR, config.PLUGINS_DIR, config.DBT_PROJECT_DIR, config.EXPECTATIONS_DIR,
                       config.AIRFLOW_CONFIG_FILE.parent, ROOT / "include"):
            target = in_container(folder)
            assert mounts.get(target) == f"./{folder.relative_to(ROOT).as_posix()}", f"{name}: {target}"
        for host in mounts.values():
            if host.startswith("./") and ".energystat" not in host:
                assert (ROOT / host).is_dir(), f"{name}: mounted folder {host} is not in the repository"


def test_data_folders_live_on_volumes(
    services: dict[str, dict[str, Any]], common_env: dict[str, str]
) -> None:
    """Landing, quarantine, circular and state must be on a mount, or they vanish with the container."""
    for name in AIRFLOW_SERVICES:
        targets = [PurePosixPath(t) for t in _bind_mounts(services[name])]
        for variable in ("ENERGYSTAT_LANDING_DIR", "ENERGYSTAT_QUARANTINE_DIR", "ENERGYSTAT_CIRCULAR_DIR",
                         "ENERGYSTAT_STATE_DIR"):
            path = PurePosixPath(common_env[variable])
            assert any(path == t or t in path.parents for t in targets), f"{name}: {variable}={path}"


# --- image and init --------------------------------------------------------------------------------------


def test_dockerfile_installs_the_lock_file(common_env: dict[str, str]) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked = {package["name"]: package["version"] for package in lock["package"] if "version" in package}

    copied = " ".join(re.findall(r"(?m)^COPY\s.*$", text))
    assert "uv.lock" in copied and "pyproject.toml" in copied
    install = re.search(r"(?ms)^RUN\s+uv\s+(?:export|sync)\s[^\n]*?--frozen.*?(?=^\S)", text)
    assert install, "the Dockerfile must install with `uv export --frozen` or `uv sync --frozen`"
    extras = set(re.findall(r"--extra[ =](\S+)", install.group(0)))
    optional = pyproject["project"].get("optional-dependencies", {})
    assert extras <= set(optional), f"unknown extras {extras - set(optional)}"
    # CeleryExecutor needs the Celery provider: a main dependency (the local cluster and its test use it
    # too), so it comes from the lock like everything else.
    assert any(dep.startswith("apache-airflow-providers-celery") for dep in pyproject["project"]["dependencies"])
    assert "apache-airflow-providers-celery" in locked

    base = re.search(r"(?m)^ARG AIRFLOW_IMAGE=apache/airflow:(?:slim-)?([\d.]+)-python([\d.]+)$", text)
    assert base, "base image must be an official apache/airflow:<version>-python<x.y> tag"
    assert base.group(1) == locked["apache-airflow"], "base image and uv.lock pin different Airflow versions"
    assert lock["requires-python"].startswith(f"=={base.group(2)}."), "base image and uv.lock differ in Python"
    assert common_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_airflow_init_runs_the_set_up_script(services: dict[str, dict[str, Any]]) -> None:
    init = services["airflow-init"]
    script_in_image = f"/opt/airflow/{AIRFLOW_INIT_SCRIPT.relative_to(ROOT).as_posix()}"
    # The script is the entrypoint: `docker compose run --rm airflow-init <arguments>` passes them to it.
    assert init["entrypoint"] == ["/bin/bash", script_in_image] and not init.get("command")
    assert re.search(rf"(?m)^COPY\s.*\s{re.escape(script_in_image)}$", DOCKERFILE.read_text(encoding="utf-8"))
    subprocess.run(["bash", "-n", str(AIRFLOW_INIT_SCRIPT)], check=True)

    script = AIRFLOW_INIT_SCRIPT.read_text(encoding="utf-8")
    assert re.search(r"(?m)^airflow db migrate$", script)
    # The metadata database gets its own owner before Airflow's migrations run as that owner.
    assert hasattr(metadata_db, "ensure_owner")
    assert script.index("metadata_db.ensure_owner(") < script.index("\nairflow db migrate\n")
    assert re.search(r'(?m)^if \(\( \$# > 0 \)\); then\n\s+exec energystat "\$@"\nfi$', script)
    # Variables the script needs without a default are all given to the service.
    env = service_env(services, "airflow-init")
    # $NAME, ${NAME} and os.environ["NAME"]; ${NAME:-default} has a default and is optional.
    needed = {
        *re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", script),
        *re.findall(r"\$([A-Z][A-Z0-9_]*)", script),
        *re.findall(r"os\.environ\[\"([A-Z][A-Z0-9_]*)\"\]", script),
    }
    assert "ENERGYSTAT_WAREHOUSE_DSN" in needed, "the pattern above no longer finds the script's variables"
    assert sorted(needed - set(env)) == []


def test_airflow_init_uses_real_energystat_commands() -> None:
    """Each `energystat ...` line of the init script parses with the CLI (a renamed command breaks it)."""
    from energystat import cli

    parser = cli.build_parser()
    lines = re.findall(r"(?m)^\s*energystat\s+(.+)$", AIRFLOW_INIT_SCRIPT.read_text(encoding="utf-8"))
    assert {line.split()[0] for line in lines} >= {"warehouse", "marts"}
    for line in lines:
        module = f"energystat.commands.{line.split()[0]}"
        if module in cli.COMMAND_MODULES and importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not written yet")
        try:
            parser.parse_args(line.split())
        except SystemExit:
            pytest.fail(f"docker/airflow-init.sh runs `energystat {line}`, which the CLI does not know")


def test_env_file_is_never_committed() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
    assert ".env" in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
