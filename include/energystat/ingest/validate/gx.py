"""Great Expectations at arm's length: the process's one ephemeral context, a suite run over a frame, Data Docs.

GX is imported inside these functions (its import is slow) so that reading the rulebook or parsing needs no GX.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from energystat import reference
from energystat.contract.uploads import TASK_PROGRESS
from energystat.ingest.validate.rulebook import load_suites

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult


def prepare_in_background() -> None:
    """Import GX and build the context in a thread, while the run's first files are parsed: seconds of CPU that the
    first validation would otherwise add to the run (the run waits for its readers meanwhile)."""
    threading.Thread(target=_gx, name="energystat-gx-import", daemon=True).start()


_building = threading.Lock()


def _gx() -> Any:
    """One ephemeral GX context per process with a pandas batch definition (built once: GX's import is slow)."""
    with _building:  # a caller meeting the background build waits for it rather than building a second one
        return _build_gx()


@cache
def _build_gx() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _build_configurations_once_per_run()
    _compute_ids_once_per_run()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("uploads")
    # The data source's own hook for its engine class (a class variable; set on this one data source only).
    object.__setattr__(source, "execution_engine_override", _domain_columns_engine())
    asset = source.add_dataframe_asset("parsed_upload")
    return asset.add_batch_definition_whole_dataframe("whole_upload")


#: What GX built during the run in progress on this thread (`run_gx`), by (builder, object id); each object is
#: kept beside what was built from it so that its id cannot be reused during the run.
_built_in_run = threading.local()


def _build_once_per_run(build: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def once(self: Any) -> Any:
        built = getattr(_built_in_run, "by_id", None)
        if built is None:  # not in `run_gx` (another thread, Data Docs): GX's own behaviour
            return build(self)
        kept = built.get((build, id(self)))
        if kept is None:
            kept = built[(build, id(self))] = (self, build(self))
        return kept[1]

    return once


def _build_configurations_once_per_run() -> None:
    """Make GX build an expectation's configuration, and the expectation a configuration stands for, once per
    `run_gx` call.

    `Expectation.configuration` builds a new `ExpectationConfiguration` (a pydantic `dict()`, a class-name
    conversion) on every access, and `ExpectationConfiguration.to_domain_obj` a new validated expectation; a
    validation asks for them about 150 times per expectation (once per keyword it looks up): 1.0 s of a run's
    1.6 s fixed cost, and a fifth of a 250,000-row run. Nothing changes an expectation or its configuration while
    it is validated (GX deep-copies a configuration before adding to it), so within a run the same object serves
    each time; the results are the same (tests/test_gx_engine.py).
    """
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    Expectation.configuration = property(_build_once_per_run(Expectation.configuration.fget),
                                         doc=Expectation.configuration.__doc__)
    ExpectationConfiguration.to_domain_obj = _build_once_per_run(ExpectationConfiguration.to_domain_obj)


#: Value types whose `repr` tells them apart as GX's id of them does (its JSON text): 1, 1.0 and True differ.
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _compute_ids_once_per_run() -> None:
    """Make GX compute the id of a metric's keyword dict (`IDDict.to_id`: a JSON conversion, a dump and an MD5)
    once per distinct dict of plain values per `run_gx` call.

    Every metric configuration GX builds asks for the ids of its two keyword dicts, and a validation builds
    about 5,000 of them from about 60 distinct dicts: a third of a run's fixed cost (≈ 0.1 s of 0.3 s), paid again
    for each chunk of a night's files. The same plain values give the same id, so a dict's `repr` stands for it
    within the run; a dict holding anything else is left to GX (tests/test_gx_engine.py)."""
    from great_expectations.core.id_dict import IDDict

    compute = IDDict.to_id

    def to_id(self: Any, id_keys: Any = None, id_ignore_keys: Any = None) -> Any:
        built = getattr(_built_in_run, "by_id", None)
        if (built is None or id_keys is not None or id_ignore_keys is not None
                or not all(type(k) is str and type(v) in _PLAIN_TYPES for k, v in self.items())):
            return compute(self, id_keys, id_ignore_keys)
        key = (compute, type(self), repr(sorted(self.items())))
        if key not in built:
            built[key] = compute(self)
        return built[key]

    IDDict.to_id = to_id


#: GX's `ignore_row_if` of a column pair or list as dropna's `how` over its columns (None: no row is dropped).
_DROPPED_ROWS = {"both_values_are_missing": "all", "either_value_is_missing": "any", "neither": None,
                 "all_values_are_missing": "all", "any_value_is_missing": "any", "never": None}


def _domain_columns_engine() -> type:
    """GX's pandas engine, with three differences that change no result:

    - each expectation's metrics see only its own columns, and the rows a column pair or list ignores
      (`ignore_row_if`) are dropped from those columns only. GX filters its domain's rows three or four times per
      expectation (non-null rows, unexpected rows, their index); with the whole frame each filter copied every
      suite column (~40): 45 % of the validation's time. A column expectation's unexpected values are read
      through `_column_values_of_one_column` for the same reason (≈ 10 % of an 80,000-institution ingest's CPU);
    - nothing is kept between validations. GX keeps every batch's frame and every metric it resolved (the boolean
      series of each expectation) for the life of the engine: a night's run held all its chunks;
    - no batch fingerprint: GX hashes every frame under 1 GB into a batch marker that nothing here reads
      (0.6 s per 250,000 rows). `HASH_THRESHOLD` is the module's own switch for it.
    """
    from great_expectations.execution_engine import PandasExecutionEngine, pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0

    class DomainColumnsPandasExecutionEngine(PandasExecutionEngine):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "caching": False})

        def load_batch_data(self, batch_id: str, batch_data: Any) -> None:
            self.batch_manager.batch_data_cache.clear()
            self.batch_manager.reset_batch_cache()
            super().load_batch_data(batch_id, batch_data)

        def get_domain_records(self, domain_kwargs: dict) -> pd.DataFrame:
            if "column" in domain_kwargs:
                return super().get_domain_records(domain_kwargs)[[domain_kwargs["column"]]]
            columns = ([domain_kwargs["column_A"], domain_kwargs["column_B"]] if "column_A" in domain_kwargs
                       else list(domain_kwargs.get("column_list", [])))
            rows_if = domain_kwargs.get("ignore_row_if")
            if not columns or rows_if not in _DROPPED_ROWS:
                records = super().get_domain_records(domain_kwargs)
                return records[columns] if columns else records
            # GX drops the ignored rows from the whole frame (a copy of every column): drop them from these only.
            whole = super().get_domain_records({k: v for k, v in domain_kwargs.items() if k != "ignore_row_if"})
            how = _DROPPED_ROWS[rows_if]
            return whole[columns].dropna(how=how) if how else whole[columns]

    _column_values_of_one_column(DomainColumnsPandasExecutionEngine)
    return DomainColumnsPandasExecutionEngine


def _column_values_of_one_column(engine: type) -> None:
    """Register, for `engine`, GX's pandas function for every column metric's unexpected values with
    the domain narrowed to the metric's column. GX's function reads the domain without its column (the whole
    frame), drops the rows where the column is null from all of it, then keeps the column: a copy of every suite
    column per expectation where one column is read. GX's registry keys providers by engine class name, so GX's
    own pandas engine is unchanged."""
    from great_expectations.expectations.metrics.map_metric_provider import (
        column_map_condition_auxilliary_methods as column_map,
    )
    from great_expectations.expectations.metrics.metric_provider import MetricFunctionTypes
    from great_expectations.expectations.registry import _registered_metrics, register_metric

    def unexpected_values(cls: Any, execution_engine: Any, metric_domain_kwargs: dict, metric_value_kwargs: dict,
                          metrics: dict, **kwargs: Any) -> list:
        column = metrics["unexpected_condition"][2]["column"]  # the accessor domain's
        return column_map._pandas_column_map_condition_values(
            cls, _OneColumnEngine(execution_engine, column), metric_domain_kwargs, metric_value_kwargs, metrics,
            **kwargs)

    for metric_name, definition in list(_registered_metrics.items()):
        metric_class, provider = definition["providers"].get("PandasExecutionEngine", (None, None))
        if provider is column_map._pandas_column_map_condition_values:
            register_metric(metric_name=metric_name, metric_domain_keys=definition["metric_domain_keys"],
                            metric_value_keys=definition["metric_value_keys"],
                            execution_engine=engine, metric_class=metric_class,
                            metric_provider=unexpected_values, metric_fn_type=MetricFunctionTypes.VALUE)


class _OneColumnEngine:
    """An engine whose domain records hold one column: what `_column_values_of_one_column` hands GX."""

    def __init__(self, engine: Any, column: str) -> None:
        self.engine, self.column = engine, column

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def get_domain_records(self, domain_kwargs: dict) -> pd.DataFrame:
        return self.engine.get_domain_records(domain_kwargs)[[self.column]]


@cache
def _gx_suite(kind: str) -> Any:
    """The kind's suite as a GX ExpectationSuite; each expectation's meta gets `rule_index` (its rulebook position)."""
    import great_expectations as gx

    document = load_suites()[kind]
    offset = len(document["meta"].get("file_rules", []))
    expectations = []
    for index, exp in enumerate(document["expectations"]):
        expectations.append({**exp, "meta": {**exp["meta"], "rule_index": offset + index}})
    return gx.ExpectationSuite(name=document["name"], expectations=expectations, meta=document["meta"])


def _suite_parameters(kind: str) -> dict[str, Any]:
    if kind == TASK_PROGRESS:
        return {"task_categories": [k.category_zh for k in reference.task_kinds().values()]}
    return {}


@cache
def _suite_columns(kind: str) -> tuple[str, ...]:
    """The frame columns the kind's expectations read (their column, column pair and column list arguments)."""
    columns: list[str] = []
    for exp in load_suites()[kind]["expectations"]:
        kwargs = exp["kwargs"]
        columns.extend(kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs)
        columns.extend(kwargs.get("column_list", []))
    return tuple(dict.fromkeys(columns))


def run_gx(kind: str, frame: pd.DataFrame) -> ExpectationSuiteValidationResult:
    """Validate a frame with the kind's suite; the GX ExpectationSuiteValidationResult (COMPLETE, with indexes)."""
    # GX's pandas engine filters the whole frame for every expectation (null rows, unexpected rows): hand it only
    # the columns the suite reads (about 40 of the ~100 enriched ones); the index, hence the positions, is kept.
    frame = _cheap_to_filter(frame[[c for c in _suite_columns(kind) if c in frame.columns]])
    batch = _gx().get_batch(batch_parameters={"dataframe": frame})
    _built_in_run.by_id = {}
    try:
        return batch.validate(_gx_suite(kind), result_format={"result_format": "COMPLETE"},
                              expectation_parameters=_suite_parameters(kind))
    finally:
        _built_in_run.by_id = None


def _cheap_to_filter(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as GX filters it fastest: object columns of no values (a `…__not_a_number` column of a clean file)
    as float NaN, those of True/False/None (`in_registry`, `credit_code_valid`) as pandas' boolean, and the
    columns of one type in one block. GX filters whole frames by rows several times per expectation; an object
    column costs a Python object per cell, and a frame built column by column (~50 blocks) a copy per column: the
    two were half of the validation's time. Null stays null and True stays True, so the results are the same;
    the findings read the caller's frame."""
    typed = {}
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object:
            continue
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred == "empty":
            typed[column] = values.astype("float64")
        elif inferred == "boolean":
            typed[column] = values.astype("boolean")
    return frame.assign(**typed).copy()  # the copy consolidates the blocks


def write_gx_data_docs(validation: ExpectationSuiteValidationResult, directory: str | Path, run_name: str) -> Path:
    """GX's own Data Docs for one validation result (`run_gx`'s) in `directory`; returns its index.html.

    The site is (re)pointed at `directory` on the process's one GX context and built for this result only; the
    result is dropped from the in-memory store afterwards so a night of reports does not accumulate them.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = _gx().data_asset.datasource.data_context
    site_name = "upload_report"
    site_config = {"class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                   "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                     "base_directory": str(Path(directory).resolve())}}
    if site_name in context.list_data_docs_sites():
        context.update_data_docs_site(site_name, site_config)
    else:
        context.add_data_docs_site(site_name, site_config)
    result_id = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=validation.suite_name),
        run_id=RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC)),
        batch_identifier=run_name)
    store = context.validation_results_store
    store.set(result_id, validation)
    try:
        context.build_data_docs(site_names=[site_name], resource_identifiers=[result_id])
    finally:
        store.remove_key(result_id)
    return Path(directory) / "index.html"


def failures_by_rule(result: ExpectationSuiteValidationResult) -> dict[int, list[int]]:
    """{rule_index: [frame positions that failed]} from a GX result (table-level failures: position 0)."""
    failures: dict[int, list[int]] = {}
    for item in result.results:
        if item.success:
            continue
        index = item.expectation_config.meta["rule_index"]
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise RuntimeError(f"GX could not evaluate rule {item.expectation_config.meta['rule_id']} "
                               f"({item.expectation_config.type}): {item.exception_info.get('exception_message')}")
        failures[index] = list(item.result.get("unexpected_index_list") or [0])
    return failures
