"""energystat's Airflow listeners (loaded by every Airflow component from `[core] plugins_folder`)."""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin


class TriggererTuning:
    """As the triggerer starts: `energystat.orchestration.triggerer_tuning` (its Task Execution API built ahead,
    no requests for callbacks the DAG processor ignores, no deadlock with its trigger runner)."""

    @hookimpl
    def on_starting(self, component: Any) -> None:
        from energystat.orchestration import triggerer_tuning

        if triggerer_tuning.in_the_triggerer():
            triggerer_tuning.build_execution_api_ahead()
            triggerer_tuning.drop_callbacks_the_dag_processor_ignores()
            triggerer_tuning.answer_the_trigger_runner_without_deadlock()


class EnergystatListeners(AirflowPlugin):
    name = "energystat_listeners"
    listeners = [TriggererTuning()]
