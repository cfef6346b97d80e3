# syntax=docker/dockerfile:1
# The energystat image for docker-compose.yaml: Airflow's official (slim) image with exactly the Python
# packages of uv.lock — the same lock file `make install` uses, Celery provider included — plus
# the energystat package and a CJK font for the circular's charts. No secrets here: they come from `.env`.
#
#   docker compose build          (or: docker build -t energystat-airflow .)
#
# The Airflow version of the base image must equal the apache-airflow pin in uv.lock
# (tests/test_docker_compose.py checks it). The full image (apache/airflow:3.3.2-python3.11) works too.
ARG AIRFLOW_IMAGE=apache/airflow:slim-3.3.2-python3.11
ARG UV_VERSION=0.13.8

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM ${AIRFLOW_IMAGE}

USER root
# Chinese labels in the circular's charts need a CJK font (matplotlib falls back to boxes without one).
RUN apt-get update \
  && apt-get install -y --no-install-recommends fonts-noto-cjk \
  && apt-get autoremove -yqq --purge \
  && apt-get clean \
  && rm -rf /var/lib/apt/lists/*
# A pinned uv (the one that wrote uv.lock) rather than whatever the base image ships.
COPY --from=uv /uv /usr/local/bin/uv

USER airflow
WORKDIR /opt/airflow

# Dependencies first, in their own layer: only pyproject.toml/uv.lock changes rebuild it.
# `uv export --frozen` fails if uv.lock is out of date with pyproject.toml; hashes are checked on install.
# --compile-bytecode: .pyc files at build time, not compiled again by every Airflow process that imports them.
# The packages go into the image's own environment (VIRTUAL_ENV=/home/airflow/.local).
COPY --chown=airflow:0 pyproject.toml uv.lock README.md /opt/airflow/
RUN uv export --frozen --no-dev --no-emit-project --format requirements-txt \
      --output-file /tmp/requirements.txt \
  && uv pip install --no-cache --compile-bytecode --require-hashes --requirement /tmp/requirements.txt \
  && rm /tmp/requirements.txt

# The project. Editable install: `import energystat` resolves to /opt/airflow/include, which is the copied
# code in a bare image and the bind-mounted folder under docker compose.
COPY --chown=airflow:0 include/ /opt/airflow/include/
RUN uv pip install --no-cache --no-deps --editable /opt/airflow
COPY --chown=airflow:0 config/ /opt/airflow/config/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dbt_project/ /opt/airflow/dbt_project/
COPY --chown=airflow:0 expectations/ /opt/airflow/expectations/
COPY --chown=airflow:0 docker/airflow-init.sh /opt/airflow/docker/airflow-init.sh

# The project root is Airflow's home: dags/, plugins/ and config/ sit where both expect them.
ENV ENERGYSTAT_HOME=/opt/airflow \
    ENERGYSTAT_STATE_DIR=/opt/airflow/state \
    AIRFLOW_CONFIG=/opt/airflow/config/airflow.cfg \
    MPLCONFIGDIR=/tmp/matplotlib
