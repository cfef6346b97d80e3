#!/usr/bin/env bash
# One-shot set-up of the docker compose stack (service `airflow-init`); safe to run again on every `up`.
# Runs as root only to hand the volumes to the Airflow user, then re-runs itself as that user.
# The only service holding the owner's credentials (ENERGYSTAT_WAREHOUSE_DSN as the server's superuser): given
# arguments, it runs `energystat <arguments>` with them instead of the set-up, for what needs the owner, e.g.
#   docker compose run --rm airflow-init portal user add --reporter 450100 --role city
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

if (( $# > 0 )); then
  exec energystat "$@"
fi

echo "== Airflow's metadata database, owned by its own role (the services connect as it, not as the superuser)"
python - <<'PY'
import os
from energystat.orchestration import metadata_db

changes = metadata_db.ensure_owner(os.environ["ENERGYSTAT_WAREHOUSE_DSN"], os.environ["ENERGYSTAT_AIRFLOW_DB_DSN"])
print("\n".join(changes) or "already so")
PY

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

echo "== Warehouse schemas and the roles' passwords (energystat warehouse migrate, as the owner)"
energystat warehouse migrate

echo "== dbt manifest for the Cosmos DAG (energystat marts parse)"
energystat marts parse

echo "energystat: set-up done; log in to the Airflow UI (service airflow-apiserver) as ${AIRFLOW_ADMIN_USERNAME}"
