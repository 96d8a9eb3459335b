"""Grids built from the paper's tables, or from any config keys, and their paper-vs-measured summary.

Rows of a table that differ only in their evaluation (Table II-IV's LE and FE columns) become one
trial whose chain runs both protocols after a single pretraining.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path

from crossmoco.experiments.reproduce import row_config, row_metric
from crossmoco.experiments.rows import TableRow
from crossmoco.experiments.tables import get_row, rows_of
from crossmoco.pipeline import tracking
from crossmoco.pipeline.grid import TrialOutcome, TrialSpec
from crossmoco.pipeline.provenance import pretrain_key
from crossmoco.training import metrics as M
from crossmoco.training.config import Config, apply_overrides, parse_override, to_flat_dict


def _merge_eval(a: Config, b: Config) -> Config:
    """``a`` with ``b``'s protocols and semi-supervised fractions added (order kept, no repeats)."""
    protocols = tuple(dict.fromkeys(a.eval.protocols + b.eval.protocols))
    fractions = tuple(dict.fromkeys(a.eval.semi_fractions + b.eval.semi_fractions))
    return apply_overrides(a, [f"eval.protocols={','.join(protocols)}",
                               f"eval.semi_fractions={','.join(map(str, fractions))}"])


def target_rows(target: str, profile: str) -> tuple[tuple[TableRow, ...], str]:
    """The runnable rows a grid target names, and its MLflow experiment: a table (``III``, ``3``), ``claims``
    (every row the paper's claims measure on ``profile``, experiments/claims.py), or row ids joined by commas."""
    from crossmoco.experiments.claims import claim_rows

    if target.strip().lower() == "claims":
        ids = claim_rows(profile)
        if not ids:
            raise ValueError(f"no claim is measured on the {profile} profile; the claims' profiles: proxy, cpu")
        return tuple(get_row(i) for i in ids), "claims"
    if "," in target or target.startswith("table"):
        rows = tuple(get_row(i.strip()) for i in target.split(",") if i.strip())
        cited = [r.row_id for r in rows if not r.runnable]
        if cited:
            raise ValueError(f"{', '.join(cited)}: figures the paper cites for other methods; they do not run here")
        return rows, f"table{rows[0].table_number}" if len({r.table for r in rows}) == 1 else "rows"
    rows = rows_of(target)
    return rows, f"table{rows[0].table_number}"


def table_trials(
    target: str, profile: str, overrides: list[str], synthetic: bool, seeds: tuple[int, ...] = (),
) -> list[TrialSpec]:
    """One trial per distinct pretraining among the runnable rows of ``target`` (``target_rows``), for each of
    ``seeds`` (none: the config's seed, trial names without a seed suffix)."""
    rows, _ = target_rows(target, profile)
    trials = []
    for seed in seeds or (None,):
        extra = [] if seed is None else [f"seed={seed}"]
        groups: dict[str, tuple[Config, list[TableRow]]] = {}
        for row in rows:
            if not row.runnable:
                continue
            cfg = row_config(row, profile, [*overrides, *extra], synthetic)
            key = pretrain_key(cfg, "")
            if key in groups:
                merged, grouped = groups[key]
                groups[key] = (_merge_eval(merged, cfg), [*grouped, row])
            else:
                groups[key] = (cfg, [row])
        if not groups:
            raise ValueError(f"{target} has no runnable rows")
        suffix = "" if seed is None else f"-s{seed}"
        trials += [TrialSpec(grouped[0].key.removesuffix("-le").removesuffix("-fe") + suffix, cfg,
                             ",".join(r.row_id for r in grouped),
                             paper=tuple((row_metric(r, cfg), r.paper_value) for r in grouped
                                         if r.paper_value is not None))
                   for cfg, grouped in groups.values()]
    # the axes are the keys whose values differ between the trials; a one-setting grid shows its rows' own keys
    own = [k for r in rows for k, _ in map(parse_override, r.overrides) if not k.startswith(_NOT_A_SETTING)]
    one_setting = len(trials) == len(seeds or (None,))
    return with_settings(trials, _off_default(own, trials[0].config) if one_setting else [])


_NOT_A_SETTING = ("data.", "eval.protocols", "eval.semi_fractions")  # what every row sets: where and how it is read


def _short_names(keys: list[str]) -> dict[str, str]:
    """``contrastive.num_banks`` -> ``num_banks``; the full key where two keys end alike."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def _off_default(keys: list[str], cfg: Config) -> list[str]:
    """The ``keys`` whose value in ``cfg`` is not the base config's (``method=crossmoco`` is no setting)."""
    flat, base = to_flat_dict(cfg), to_flat_dict(Config())
    return [k for k in dict.fromkeys(keys) if flat.get(k) != base.get(k)]


def _text(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def with_settings(trials: list[TrialSpec], keys: list[str] = ()) -> list[TrialSpec]:  # type: ignore[assignment]
    """``trials`` with each one's setting (``TrialSpec.setting``): the values of the grid's axes (the config keys
    whose values differ between the trials, and ``keys``), under short names: the MLflow runs table's columns."""
    flats = [to_flat_dict(t.config) for t in trials]
    varying = [k for k in flats[0] if len({repr(f.get(k)) for f in flats}) > 1] if flats else []
    axes = list(dict.fromkeys([*keys, *varying]))
    names = _short_names(axes)
    return [dataclasses.replace(t, setting=tuple((names[k], _text(f[k])) for k in axes))
            for t, f in zip(trials, flats, strict=True)]


def over_trials(base: Config, over: list[str]) -> list[TrialSpec]:
    """The cartesian product of ``KEY=V1,V2,...`` lists over ``base`` (each value validated); the items of one
    point of a list-valued key are joined by "+" (``augment.steps=shear+crop,occlusion``)."""
    axes = []
    for text in over:  # a list-valued key's points are "+"-joined: augment.steps=shear+crop,occlusion,none
        key, values = parse_override(text)
        axes.append([f"{key}={v.strip()}" for v in values.split(",") if v.strip()])
    trials = []
    for combo in itertools.product(*axes):
        name = ",".join(c.split(".")[-1] for c in combo)
        trials.append(TrialSpec(name, apply_overrides(base, combo)))
    return with_settings(trials, [parse_override(c)[0] for c in axes[0]][:1] if axes else [])


@dataclass(frozen=True)
class SummaryRow:
    row_id: str
    label: str
    paper: float | None
    measured: float | None
    parent_run_id: str
    note: str = ""  # shown instead of a missing measurement: "interrupted", "failed"


def summarize(trials: list[TrialSpec], outcomes: list[TrialOutcome]) -> list[SummaryRow]:
    """Paper vs measured for every row a trial covered (``--over`` trials: each metric measured)."""
    by_name = {o.name: o for o in outcomes}
    out = []
    for spec in trials:
        o = by_name.get(spec.name)
        metrics = o.metrics if o else {}
        run = o.parent_run_id if o else ""
        note = "" if o is not None and o.status == "finished" else o.status if o is not None else "not run"
        if spec.row_id:
            for row_id in spec.row_id.split(","):
                row = get_row(row_id)
                out.append(SummaryRow(row_id, f"{row.label} ({row.column})", row.paper_value,
                                      metrics.get(row_metric(row, spec.config)), run, note))
        else:
            headline = sorted(k for k in metrics if k.endswith("_top1") and not k.endswith("best_epoch_top1"))
            for metric in headline or [f"({note or 'no metric'})"]:
                out.append(SummaryRow(spec.name, metric, None, metrics.get(metric), run, note))
    return out


def markdown(rows: list[SummaryRow], title: str, context_only: bool = False) -> str:
    """Paper vs measured, one line per row. ``context_only`` (synthetic data): the paper's figure is shown as
    context after the measured one, with no difference column: the two were measured on different data."""
    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    if context_only:
        lines = [f"### {title}", "", "| row | setting | measured | paper (context) | MLflow parent run |",
                 "|---|---|---|---|---|"]
    else:
        lines = [f"### {title}", "", "| row | setting | paper | measured | diff | MLflow parent run |",
                 "|---|---|---|---|---|---|"]
    for r in rows:
        diff = "—" if r.paper is None or r.measured is None else f"{r.measured - r.paper:+.1f}"
        measured = r.note if r.measured is None and r.note else fmt(r.measured)
        if context_only:
            lines.append(f"| {r.row_id} | {r.label} | {measured} | {fmt(r.paper)} | {r.parent_run_id} |")
        else:
            lines.append(f"| {r.row_id} | {r.label} | {fmt(r.paper)} | {measured} | {diff} | {r.parent_run_id} |")
    return "\n".join(lines) + "\n"


def summary_run_name(name: str) -> str:
    """``grid-<name>``, without doubling a name that already starts with ``grid-``."""
    return name if name.startswith("grid-") else f"grid-{name}"


# Why a smoke FE figure can read below its LE: at this size the two differ by a few test samples. The smoke
# profile's fine-tuning (LP-FT, 10 epochs, one lr) was chosen on the training side's validation performers, where
# FE read 3-21 points above LE over three seeds (training/config.py, the smoke profile).
SMOKE_FE = ("FE starts from the linear probe (LP-FT) and fine-tunes for 10 epochs of a few steps, so at the smoke "
            "size FE and LE can differ by a few test samples either way (on the validation performers FE read above "
            "LE). FE clearly above LE takes real pretraining and fine-tuning (cpu and paper profiles).")


def fe_below_le(rows: list[SummaryRow], profile: str) -> str:
    """A printed reason when a fine-tuned (FE) figure reads below the linear one (LE) of its setting."""
    by_id = {r.row_id: r for r in rows}
    low = []
    for fe in rows:
        le = by_id.get(fe.row_id.removesuffix("-fe") + "-le") if fe.row_id.endswith("-fe") else None
        if le is not None and fe.measured is not None and le.measured is not None and fe.measured < le.measured:
            low.append(f"{fe.row_id.removesuffix('-fe')} ({fe.measured:.1f} < {le.measured:.1f})")
    if not low:
        return ""
    why = SMOKE_FE if profile == "smoke" else "see each chain's fine-tuning curves (figures/curves.png)."
    return f"\nFE below LE for {', '.join(low)}: {why}\n"


def log_summary(run_dir: Path, experiment: str, name: str, text: str, status: str = "FINISHED") -> str:
    """The grid's summary run (``summary_run_name``) holding the table as ``summary.md``, ended
    with ``status`` (FINISHED only when every trial finished); a resumed grid updates its own
    summary run instead of adding one. Returns its id."""
    store = tracking.init_store(tracking.default_uri(run_dir), experiment, artifact_root=Path(run_dir) / "artifacts")
    run_name = summary_run_name(name)
    run_id = tracking.find_or_start_free(store, run_name, {M.GRID: name})
    tracking.log_text(store, run_id, text, "summary.md")
    tracking.end_run(store, run_id, status)
    return run_id
