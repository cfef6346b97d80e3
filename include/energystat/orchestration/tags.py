"""The one list of tags an energystat DAG may carry (the DAG integrity test checks every DAG against it).

Like mozilla/telemetry-airflow's `utils/tags.py`: a tag is a filter in the Airflow UI, so a typo or an
ad-hoc tag makes a DAG disappear from the filter people use. Add a tag here first, with what it means.
"""

from __future__ import annotations

from enum import StrEnum


class Tag(StrEnum):
    """Tags of energystat DAGs; every DAG carries `PROJECT` and at least one stage tag."""

    PROJECT = "energystat"
    INGESTION = "ingestion"  # reads the cities' uploads from the landing tree
    DATA_QUALITY = "data-quality"  # checks data against the rulebook, alerts governance staff
    DBT = "dbt"  # runs dbt models and tests
    MARTS = "marts"  # writes the marts analysts query
    CIRCULAR = "circular"  # writes the annual circular
    REPORTING = "reporting"  # produces documents for officials
    MONITORING = "monitoring"  # during the year: deadline reminders, early warnings, progress bulletins


#: The tags every DAG must have.
REQUIRED = frozenset({Tag.PROJECT})
#: Every allowed tag, as the strings DAGs carry.
ALLOWED = frozenset(tag.value for tag in Tag)
