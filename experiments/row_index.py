"""``python -m crossmoco rows``: every table row with its id, the paper's figure and the figures kept in
``results/`` (per profile: one seed's figure, or the mean and count of several)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean

from crossmoco.experiments.results import load_results, seed_free
from crossmoco.experiments.rows import TableRow
from crossmoco.experiments.tables import ROWS, rows_of


def recorded(root: Path) -> dict[str, dict[str, list[float]]]:
    """``{row id: {profile (and any --set it ran with, the seed aside): [measured figure per seed]}}`` from
    ``<root>/results``: figures measured another way are not averaged together."""
    kept: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in load_results(root):
        if rec.get("measured") is not None:
            extra = " ".join(seed_free(rec.get("overrides")))
            kept[rec["row_id"]][rec["profile"] + (f" [{extra}]" if extra else "")].append(float(rec["measured"]))
    return kept


def _figures(per_profile: dict[str, list[float]]) -> str:
    parts = []
    for profile, values in sorted(per_profile.items()):
        seeds = f" ({len(values)} seeds)" if len(values) > 1 else ""
        parts.append(f"{profile} {mean(values):.1f}{seeds}")
    return "; ".join(parts) or "-"


def _status(row: TableRow) -> str:
    return "control" if row.is_control else "" if row.runnable else "cited"


def row_table(root: Path, table: str | None = None) -> str:
    """One line per row (of ``table``, else every table): id, table, column, paper, recorded figures."""
    rows = rows_of(table) if table else ROWS
    kept = recorded(root)
    width = max(len(r.row_id) for r in rows)
    lines = [f"{'row id':{width}s}  {'table':5s}  {'column':24s}  {'paper':>5s}  recorded (results/)"]
    for r in rows:
        paper = f"{r.paper_value:.1f}" if r.paper_value is not None else "-"
        recorded_text = _figures(kept.get(r.row_id, {})) if r.runnable else "(cited; not run here)"
        label = f"{r.column}"[:24]
        lines.append(f"{r.row_id:{width}s}  {r.table:5s}  {label:24s}  {paper:>5s}  {recorded_text}"
                     + (f"  [{_status(r)}]" if r.is_control else ""))
    return "\n".join(lines)
