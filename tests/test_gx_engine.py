"""`run_gx` (our pandas engine: narrowed domains and unexpected values, configurations built once per run, no
fingerprint) gives the results GX's own engine gives, expectation by expectation, on a frame full of what the
rules look for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from energystat.contract.uploads import MONTHLY, TASK_PROGRESS
from energystat.ingest.validate import gx
from energystat.ingest.validate.gx import _suite_columns, _suite_parameters

#: Text columns the suites compare or look up (others of object dtype are a number's leftover text).
TEXTS = {"period_month": ["2023-03", "2023-04"], "folder_period": ["2023-03"], "credit_code": ["A", "B", "C", "D"],
         "registry_reporter_code": ["450100", "450200"], "folder_reporter": ["450100"], "registered_missing": ["X"],
         "period_quarter": ["2023-Q1", "2023-Q2"], "folder_quarter": ["2023-Q1"], "task_category": ["光伏", "合同能源管理", "?"],
         "unit": ["千瓦", "个"], "expected_unit": ["千瓦"], "task_code": ["pv", "epc"], "project_name": ["p1", "p2"]}


def _frame(kind: str, rows: int, seed: int) -> pd.DataFrame:
    """Every column the kind's suite reads, with missing values, bad values and duplicates mixed in."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for name in _suite_columns(kind):
        missing = rng.random(rows) < 0.1
        if name == "file_key":
            columns[name] = rng.integers(0, 3, rows)
        elif name in TEXTS:
            values = rng.choice(TEXTS[name], rows).astype(object)
            values[missing] = None
            columns[name] = values
        elif name.endswith("__not_a_number"):
            values = np.full(rows, None, dtype=object)
            values[rng.random(rows) < 0.02] = "n/a"
            columns[name] = values
        elif name in ("credit_code_valid", "in_registry"):
            values = (rng.random(rows) < 0.9).astype(object)
            values[missing] = None
            columns[name] = values
        else:  # a number: mostly plausible, some negative, some huge, some missing
            values = rng.lognormal(3, 2, rows) * np.where(rng.random(rows) < 0.05, -1, 1)
            values[missing] = np.nan
            columns[name] = values
    return pd.DataFrame(columns)


def _gx_own_results(kind: str, frame: pd.DataFrame) -> list:
    import great_expectations as great

    context = great.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("plain").add_dataframe_asset("frame")
             .add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame}))
    return batch.validate(gx._gx_suite(kind), result_format={"result_format": "COMPLETE"},
                          expectation_parameters=_suite_parameters(kind)).results


def _essentials(results: list) -> list[tuple]:
    keys = ("element_count", "missing_count", "unexpected_count", "unexpected_index_list", "unexpected_list",
            "partial_unexpected_list")
    return [(r.expectation_config.meta["rule_id"], r.success, r.exception_info.get("raised_exception"),
             *(_missing_as_none(r.result.get(k)) for k in keys)) for r in results]


def _missing_as_none(value: object) -> object:
    """A list's NaN as None: NaN equals no NaN, and the values listed for a not-null rule are all missing."""
    if not isinstance(value, list):
        return value
    return [None if not isinstance(v, (list, dict)) and pd.isna(v) else v for v in value]


@pytest.mark.parametrize("kind", [MONTHLY, TASK_PROGRESS])
def test_run_gx_gives_gx_own_results(kind):
    frame = _frame(kind, 4000, seed=11)
    ours = _essentials(gx.run_gx(kind, frame).results)
    assert ours == _essentials(_gx_own_results(kind, frame))
    assert sum(1 for rule in ours if not rule[1]) >= len(ours) // 2  # the frame breaks most rules
    assert ours == _essentials(gx.run_gx(kind, frame).results)  # a second run: nothing carried over


def test_ids_computed_once_per_run_are_gx_own():
    """Within a run a metric keyword dict's id is computed once per distinct dict; it is the id GX computes, and
    values GX tells apart (1, 1.0, True; None and "None") keep their own ids."""
    from great_expectations.core.id_dict import IDDict

    gx._gx()  # installs the run-scoped id cache
    dicts = [IDDict({"column": "a", "batch_id": "b", "row_condition": None}), IDDict({"x": 1, "y": "z"}),
             IDDict({"x": 1.0, "y": "z"}), IDDict({"x": True, "y": "z"}), IDDict({"x": "None", "y": None}),
             IDDict({"x": None, "y": "None"}), IDDict({"value_set": ["a", "b"], "mostly": 0.95})]
    outside = [d.to_id() for d in dicts]  # no run in progress: GX's own computation
    gx._built_in_run.by_id = {}
    try:
        inside = [d.to_id() for d in dicts]
        again = [IDDict(d).to_id() for d in dicts]  # equal dicts, new objects: from the run's cache
        cached = sum(1 for key in gx._built_in_run.by_id if isinstance(key, tuple) and len(key) == 3)
    finally:
        gx._built_in_run.by_id = None
    assert inside == outside == again and len(set(outside)) == len(dicts)
    assert cached == len(dicts) - 1  # the dict holding a list is left to GX
