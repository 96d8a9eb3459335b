"""MLflow, and only here: the store, experiments, chain (parent) runs and stage (child) runs.

No MLflow object leaves this module: a run read back is a ``RunRecord`` (id, status, tags, params,
metrics), a metric history a list of rows; tag names are in ``training.metrics``.

Everything goes through ``MlflowClient`` with explicit run ids, so a run can be created by the
driver and written by rank 0 of a Ray Train worker group (or reopened after a worker retry)
without any process-global "active run". Measured on this machine (../shared/notes):

* The default store is SQLite in the run directory (``sqlite:///<run_dir>/mlflow.db``), unless
  ``MLFLOW_TRACKING_URI`` is set. Concurrent first use of a fresh DB corrupts it, so the driver
  creates the schema (``init_store``) before any worker starts; after that, concurrent writers
  are fine.
* The chain's parent run carries a ``crossmoco.chain_key`` tag (config hash, dataset manifest
  hash, row): resuming a chain finds and continues that parent instead of creating a duplicate.
* Every experiment is tagged ``mlflow.experimentKind = custom_model_development``: without it the
  MLflow 3 UI opens an experiment on its GenAI overview of traces instead of the runs table
  (values from the UI bundle of mlflow 3.17: ``genai_development``, ``custom_model_development``).
  The 3.17 UI itself decides by its GenAI / Model training switch (the ``workflowType`` URL
  parameter, then the browser's last choice), so ``runs_url`` carries ``workflowType=machine_learning``.
* The runs table shows no metric column by default; every experiment holds a shared view
  (``mlflow.sharedViewState.crossmoco``, what the UI's "Share" button writes) whose columns are
  the chains' headline metrics, and ``runs_url`` opens it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from crossmoco.training import metrics as M

log = logging.getLogger(__name__)

CHAIN_KEY = M.CHAIN_KEY
STAGE = M.STAGE
PARENT = "mlflow.parentRunId"
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"  # the UI's "model training" view: runs, metrics, charts
SHARED_VIEW = "mlflow.sharedViewState."  # + key: an experiment tag holding a runs-table view (UI "Share")
VIEW_KEY = "crossmoco"
_MAX_BATCH = 900  # MLflow's log_batch limit is 1000 entities


def default_uri(run_dir: Path) -> str:
    """``$MLFLOW_TRACKING_URI`` or a SQLite store in the run directory."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return env if env else f"sqlite:///{Path(run_dir).resolve() / 'mlflow.db'}"


def store_exists(uri: str) -> bool:
    """Whether the store at ``uri`` can be read without creating it: a SQLite store's file exists; any other
    store (a server, a database URL) is taken to be there."""
    if uri.startswith("sqlite:"):
        path = uri.removeprefix("sqlite:///").partition("?")[0]  # sqlite:////abs/path, sqlite:///relative/path
        return bool(path) and Path(path).is_file()
    return True


# Ctrl-C: a KeyboardInterrupt, or the SystemExit that Ray Train's SIGINT handler ends a fit with.
INTERRUPTS = (KeyboardInterrupt, SystemExit)


@dataclass(frozen=True)
class RunRecord:
    """A run as read back: what callers of this module see instead of MLflow's ``Run``."""

    run_id: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # the latest value of each


def _record(run: Any) -> RunRecord:
    return RunRecord(run.info.run_id, run.info.status, dict(run.data.tags), dict(run.data.params),
                     dict(run.data.metrics))


@dataclass(frozen=True)
class Store:
    """A tracking URI and an experiment in it."""

    uri: str
    experiment_id: str

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri)


def init_store(uri: str, experiment: str, artifact_root: Path | None = None) -> Store:
    """Create the schema (driver only, before workers start) and get or create the experiment.

    ``mlflow.set_tracking_uri`` is deliberately not called: in MLflow 3 it exports
    ``MLFLOW_TRACKING_URI`` to the environment, which would silently redirect every later chain
    of this process (and its children) to this store.
    """
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND) != MODEL_TRAINING:  # an experiment made before the tag existed
            client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
        return Store(uri, found.experiment_id)
    location = None
    if artifact_root is not None and uri.startswith("sqlite:"):
        location = (Path(artifact_root).resolve() / experiment).as_uri()
    return Store(uri, client.create_experiment(experiment, artifact_location=location,
                                               tags={EXPERIMENT_KIND: MODEL_TRAINING}))


def experiment_exists(uri: str, experiment: str) -> bool:
    """Whether the store at ``uri`` holds ``experiment`` (nothing is created)."""
    return MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment) is not None


def find_chain(store: Store, chain_key: str) -> str | None:
    """The newest parent run with this chain key, if any (for resuming)."""
    runs = store.client.search_runs(
        [store.experiment_id],
        filter_string=f"tags.`{CHAIN_KEY}` = '{chain_key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def start_chain(store: Store, name: str, chain_key: str, tags: Mapping[str, str]) -> tuple[str, bool]:
    """The chain's parent run: an existing one with the same key (resumed), or a new one."""
    existing = find_chain(store, chain_key)
    if existing is not None:
        reopen(store, existing)
        log.info("resuming chain %s (MLflow parent run %s)", name, existing)
        return existing, True
    run = store.client.create_run(store.experiment_id, run_name=name, tags={**tags, CHAIN_KEY: chain_key})
    return run.info.run_id, False


def find_stage(store: Store, parent_id: str, stage: str) -> tuple[str, str] | None:
    """(run id, status) of the newest child run of ``parent_id`` for ``stage``."""
    runs = store.client.search_runs(
        [store.experiment_id],
        filter_string=f"tags.`{PARENT}` = '{parent_id}' and tags.`{STAGE}` = '{stage}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return (runs[0].info.run_id, runs[0].info.status) if runs else None


def start_stage(store: Store, parent_id: str, stage: str, tags: Mapping[str, str]) -> str:
    """A child run for one stage of a chain (pretrain, linear, semi1, ...)."""
    run = store.client.create_run(
        store.experiment_id, run_name=stage, tags={**tags, PARENT: parent_id, STAGE: stage}
    )
    return run.info.run_id


def end_run(store: Store, run_id: str, status: str = "FINISHED") -> None:
    """Mark a run FINISHED, FAILED or KILLED."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise ValueError(f"unknown terminal run status {status!r}")
    store.client.set_terminated(run_id, status=status)


def log_params(store: Store, run_id: str, params: Mapping[str, Any]) -> None:
    """Log params (values stringified; lists as MLflow shows them), in batches."""
    items = [Param(k, json.dumps(v) if isinstance(v, list | dict) else str(v)) for k, v in params.items()]
    for i in range(0, len(items), _MAX_BATCH):
        store.client.log_batch(run_id, params=items[i : i + _MAX_BATCH])


def set_tags(store: Store, run_id: str, tags: Mapping[str, str]) -> None:
    store.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_metrics(store: Store, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log numeric metrics at ``step`` in one batch (non-finite and non-numeric values are skipped)."""
    now = int(time.time() * 1000)
    batch = [
        Metric(k, float(v), now, step or 0)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    ]
    for i in range(0, len(batch), _MAX_BATCH):
        store.client.log_batch(run_id, metrics=batch[i : i + _MAX_BATCH])


def logged_steps(store: Store, run_id: str, key: str) -> set[int]:
    """The steps at which ``key`` has been logged in a run."""
    return {m.step for m in store.client.get_metric_history(run_id, key)}


def log_artifact(store: Store, run_id: str, path: Path, artifact_path: str | None = None) -> None:
    store.client.log_artifact(run_id, str(path), artifact_path)


def log_json(store: Store, run_id: str, obj: Any, name: str, artifact_path: str | None = None) -> None:
    """Write ``obj`` as JSON to a temporary file and log it as an artifact named ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(obj, indent=2, sort_keys=True))
        log_artifact(store, run_id, path, artifact_path)


def get_run(store: Store, run_id: str) -> RunRecord:
    return _record(store.client.get_run(run_id))


def run_exists(store: Store, run_id: str) -> bool:
    """Whether the store holds a run with this id."""
    from mlflow.exceptions import MlflowException

    try:
        store.client.get_run(run_id)
    except MlflowException:
        return False
    return True


def reopen(store: Store, run_id: str) -> None:
    """Mark an unfinished run RUNNING again (a resumed stage keeps writing its own run)."""
    store.client.update_run(run_id, status="RUNNING")


@contextmanager
def ending(store: Store, run_id: str) -> Iterator[None]:
    """End ``run_id`` as the block ends: FINISHED, KILLED on Ctrl-C, FAILED on any other error
    (which is raised on)."""
    try:
        yield
    except INTERRUPTS:
        end_run(store, run_id, "KILLED")
        raise
    except BaseException:
        end_run(store, run_id, "FAILED")
        raise
    end_run(store, run_id, "FINISHED")


def open_stage(store: Store, parent_id: str, stage: str, tags: Mapping[str, str],
               params: Mapping[str, Any]) -> tuple[str, bool]:
    """(run id, already finished) of a chain's stage: its existing child run, reopened unless it
    FINISHED, or a new one with ``params``; never a duplicate."""
    found = find_stage(store, parent_id, stage)
    if found is not None:
        run_id, status = found
        if status != "FINISHED":
            reopen(store, run_id)
        return run_id, status == "FINISHED"
    run_id = start_stage(store, parent_id, stage, tags)
    log_params(store, run_id, params)
    return run_id, False


def find_finished(store: Store, tag: str, value: str) -> list[RunRecord]:
    """FINISHED runs of every experiment in the store whose ``tag`` is ``value``, newest first."""
    experiments = [e.experiment_id for e in store.client.search_experiments()]
    runs = store.client.search_runs(experiments, filter_string=f"tags.`{tag}` = '{value}' and "
                                    "attributes.status = 'FINISHED'", order_by=["attributes.end_time DESC"])
    return [_record(r) for r in runs]


def metric_rows(store: Store, run_id: str, keys: list[str], step_key: str | None = None) -> list[dict[str, float]]:
    """The histories of ``keys`` as one row per step, in step order (with the step under
    ``step_key`` when given)."""
    rows: dict[int, dict[str, float]] = {}
    for key in keys:
        for m in store.client.get_metric_history(run_id, key):
            row = rows.setdefault(m.step, {step_key: float(m.step)} if step_key else {})
            row[key] = m.value
    return [rows[s] for s in sorted(rows)]


def last_values(store: Store, run_id: str, keys: list[str]) -> dict[str, float]:
    """The value at the highest step of each of ``keys`` that the run holds."""
    out = {}
    for key in keys:
        history = store.client.get_metric_history(run_id, key)
        if history:
            out[key] = max(history, key=lambda m: m.step).value
    return out


def find_or_start_free(store: Store, name: str, tags: Mapping[str, str]) -> str:
    """The newest run named ``name`` with these tags (reopened), or a new one outside any chain."""
    match = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    found = store.client.search_runs([store.experiment_id], filter_string=f"{match} and attributes.run_name = "
                                     f"'{name}'", order_by=["attributes.start_time DESC"], max_results=1)
    if found:
        reopen(store, found[0].info.run_id)
        return found[0].info.run_id
    return start_stage_free(store, name, tags)


def start_stage_free(store: Store, name: str, tags: Mapping[str, str]) -> str:
    """A run outside any chain (a grid's summary, a report)."""
    return store.client.create_run(store.experiment_id, run_name=name, tags=dict(tags)).info.run_id


def log_text(store: Store, run_id: str, text: str, name: str, artifact_path: str | None = None) -> None:
    """Log ``text`` as an artifact file named ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        log_artifact(store, run_id, path, artifact_path)


def read_text(store: Store, run_id: str, name: str) -> str | None:
    """The text of a run's artifact file ``name``, or None when the run has none."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = store.client.download_artifacts(run_id, name, tmp)
        except Exception:  # MLflow raises its own or OSError types for a missing artifact
            return None
        return Path(path).read_text()


def search_chains(store: Store, row_prefix: str = "") -> list[RunRecord]:
    """FINISHED chain parent runs of the experiment (optionally of rows starting with a prefix)."""
    runs = store.client.search_runs([store.experiment_id], filter_string=f"tags.`{CHAIN_KEY}` != ''",
                                    order_by=["attributes.start_time DESC"])
    return [_record(r) for r in runs
            if r.info.status == "FINISHED" and r.data.tags.get(M.ROW, "").startswith(row_prefix)]


def run_url(store: Store, run_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The run's page in the MLflow UI served at ``base``."""
    return f"{base}/#/experiments/{store.experiment_id}/runs/{run_id}?workflowType=machine_learning"


def runs_url(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The experiment's runs table in the MLflow UI at ``base``, model-training view, with the
    headline metric columns of ``show_metrics``."""
    return (f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
            f"&viewStateShareKey={VIEW_KEY}")


def mlflow_command() -> str:
    """How to run this environment's ``mlflow`` from any shell: the script beside this Python (a venv's
    ``bin/mlflow``; a bare ``mlflow`` is not on PATH outside an activated venv), else ``python -m mlflow``."""
    script = Path(sys.executable).parent / "mlflow"
    return shlex.quote(str(script)) if script.is_file() else f"{shlex.quote(sys.executable)} -m mlflow"


def ui_hint(uri: str, experiment_id: str) -> str:
    """How to look at an experiment: the server command (127.0.0.1 only), runnable as printed, and the page."""
    return (f"MLflow: {mlflow_command()} ui --backend-store-uri {shlex.quote(uri)} --host 127.0.0.1 --port 5000\n"
            f"  then open {runs_url(experiment_id)}")


def show_metrics(store: Store, metrics: list[str]) -> None:
    """Add ``metrics`` as columns of the experiment's shared runs view."""
    show_columns(store, [], metrics)


def show_columns(store: Store, params: list[str], metrics: list[str]) -> None:
    """Add ``params`` and then ``metrics`` as columns (in order, after those already shown) of the experiment's
    shared runs view: what the UI's runs table shows without opening its column picker."""
    tag = SHARED_VIEW + VIEW_KEY
    try:
        state = json.loads(store.client.get_experiment(store.experiment_id).tags.get(tag) or "{}")
    except json.JSONDecodeError:
        state = {}
    columns = list(state.get("selectedColumns") or [])
    wanted = [*columns, *(f"params.`{p}`" for p in params), *(f"metrics.`{m}`" for m in metrics)]
    merged = list(dict.fromkeys(sorted(wanted, key=lambda c: not c.startswith("params."))))  # the setting first
    if merged != columns:
        state.update(selectedColumns=merged, columnOrder=merged)
        store.client.set_experiment_tag(store.experiment_id, tag, json.dumps(state))
