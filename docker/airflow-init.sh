#!/usr/bin/env bash
# One-shot set-up of the docker compose stack (service `airflow-init`); safe to run again on every `up`.
# Runs as root only to hand the volumes to the Airflow user, then re-runs itself as that user.
set -euo pipefail

airflow_uid="${AIRFLOW_UID:-50000}"

if [[ "$(id -u)" == 0 && "$airflow_uid" != 0 ]]; then
  # Named volumes and bind mounts docker creates are owned by root: give them to the Airflow user
  # (as Airflow's own compose file does). A landing share that refuses chown keeps its owner.
  mkdir -p /opt/airflow/logs "$ENERGYSTAT_STATE_DIR" \
    "$ENERGYSTAT_LANDING_DIR" "$ENERGYSTAT_QUARANTINE_DIR" "$ENERGYSTAT_CIRCULAR_DIR"
  mkdir -p "$ENERGYSTAT_HOME/dbt_project/target" "$ENERGYSTAT_HOME/dbt_project/logs"
  chown -R "$airflow_uid:0" /opt/airflow/logs "$ENERGYSTAT_STATE_DIR" \
    "$ENERGYSTAT_HOME/dbt_project/target" "$ENERGYSTAT_HOME/dbt_project/logs"
  chown "$airflow_uid:0" "$ENERGYSTAT_LANDING_DIR" "$ENERGYSTAT_QUARANTINE_DIR" "$ENERGYSTAT_CIRCULAR_DIR" \
    || echo "warning: could not chown the landing/output folders; make them writable for uid $airflow_uid" >&2
  # Drop to the Airflow user (uid may be absent from /etc/passwd, so no su; python is always there).
  export HOME=/home/airflow
  exec python -c 'import os, sys; os.setgroups([]); os.setgid(0); os.setuid(int(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])' \
    "$airflow_uid" "$0" "$@"
fi

echo "== Airflow metadata database (airflow db migrate)"
airflow db migrate

echo "== Admin login of the simple auth manager"
# The auth manager reads passwords from this JSON file and only generates one for users missing from it.
python - <<'PY'
import json, os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
passwords = json.loads(path.read_text() or "{}") if path.exists() else {}
passwords[os.environ["AIRFLOW_ADMIN_USERNAME"]] = os.environ["AIRFLOW_ADMIN_PASSWORD"]
path.write_text(json.dumps(passwords) + "\n")
path.chmod(0o660)
PY

echo "== Warehouse schemas (energystat warehouse migrate)"
energystat warehouse migrate

if [[ -n "${ENERGYSTAT_ANALYST_PASSWORD:-}" ]]; then
  echo "== Password of the read-only analyst role"
  python - <<'PY'
import os
import psycopg
from psycopg import sql
from energystat import warehouse

with psycopg.connect(os.environ["ENERGYSTAT_WAREHOUSE_DSN"], autocommit=True) as conn:
    conn.execute(sql.SQL("alter role {} password {}").format(
        sql.Identifier(warehouse.ANALYST_ROLE), sql.Literal(os.environ["ENERGYSTAT_ANALYST_PASSWORD"])))
PY
fi

echo "== dbt manifest for the Cosmos DAG (energystat marts parse)"
energystat marts parse

echo "energystat: set-up done; log in to the Airflow UI (service airflow-apiserver) as ${AIRFLOW_ADMIN_USERNAME}"
