"""The paper's comparative claims as data, and their verdicts from the figures kept in ``results/``.

A ``Claim`` quotes the paper's sentence and names the two settings it compares: the rows that carry the paper's own
figures (``paper_rows``, e.g. Table II's PKU-MMD LE cells) and the rows this project measures the comparison with
(``rows``, the same settings on NW-UCLA, where the data are). ``python -m crossmoco grid claims --seeds 0,1,2
--record`` measures the rows; ``python -m crossmoco claims`` judges every claim from the results files:

* the measured difference is paired by seed (the same seed draws the same initial encoders, batches and masks on
  both sides): per seed, ``figure(better) - figure(worse)`` in points;
* its 95% interval comes from a paired bootstrap over seeds and test clips: each resample draws seeds with
  replacement and clips with replacement (the same clips for both sides), and averages the per-clip correctness
  difference (``results/predictions``); a seed without kept predictions contributes its figures alone. With a
  handful of seeds the bootstrap's seed resampling understates the seed-to-seed spread (3 seeds have 10 distinct
  resamples), so the interval is widened to the Student-t interval of the per-seed differences where that is
  wider: a claim holds only when both agree;
* the verdict: **holds** when the interval lies on the claimed side of 0, **reversed** when it lies on the other,
  else **not resolved at n seeds**, with the seeds a paired comparison of this spread would need to resolve the
  measured difference (``seeds_needed``). Fewer than ``MIN_SEEDS`` paired seeds give no verdict.

A claim against a figure the paper cites for a method this project does not run (Table VI's 3s-CrosSCLR) compares
the measured figure with that printed number (``printed_other``): one-sample, no pairing.

None of the field's codebases reports seeds, intervals or verdicts; each is computed here, never typed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossmoco.experiments.results import DEFAULT_SEED, load_predictions, load_results
from crossmoco.experiments.tables import get_row

MIN_SEEDS = 3  # the floor: fewer paired seeds cannot tell an effect from one seed's trajectory
BOOTSTRAP = 4000  # resamples of the paired bootstrap
CONFIDENCE = 0.95
Z = 1.959963984540054  # the normal quantile of a two-sided 95% interval, for ``seeds_needed``
MAX_SEEDS_SHOWN = 1000  # past this, a seed count says nothing more than "no measurable difference"


@dataclass(frozen=True)
class Claim:
    """One comparative claim of the paper: ``better`` is higher than ``worse`` (or than a printed figure)."""

    key: str  # stable id, e.g. "table2-crossed-vs-uncrossed-le"
    source: str  # where the paper says it: "Table II", "Fig. 5", "§IV-C"
    quote: str  # the sentence, as printed
    rows: tuple[str, str | None]  # (better, worse) measured here; worse None: compared with ``printed_other``
    paper_rows: tuple[str, str] | None = None  # (better, worse) carrying the paper's figures; None: no figures
    printed_other: float | None = None  # the cited figure a claim compares with when ``rows[1]`` is None
    profile: str = "proxy"  # the schedule the measured rows ran with
    note: str = ""  # where the paper contradicts itself or what the comparison leaves out

    @property
    def paper_diff(self) -> float | None:
        """The paper's difference in points (better - worse), from its printed figures."""
        if self.paper_rows is not None:
            better, worse = (get_row(r).paper_value for r in self.paper_rows)
            return None if better is None or worse is None else round(better - worse, 2)
        if self.printed_other is not None:
            figure = get_row(self.rows[0]).paper_value
            return None if figure is None else round(figure - self.printed_other, 2)
        return None


def _ablation(table: str, better: str, worse: str, quote: str, note: str = "",
              columns: tuple[str, ...] = ("le", "fe")) -> list[Claim]:
    """LE and FE claims of Tables II-IV: the PKU-MMD cells carry the paper's figures, NW-UCLA's are measured."""
    t = {"II": 2, "III": 3, "IV": 4}[table]
    return [Claim(f"table{t}-{better}-vs-{worse}-{col}", f"Table {table} ({col.upper()})", quote,
                  (f"table{t}-{better}-ucla-{col}", f"table{t}-{worse}-ucla-{col}"),
                  (f"table{t}-{better}-{col}", f"table{t}-{worse}-{col}"), note=note)
            for col in columns]  # fmt: skip


_TABLE_I = ("It can be seen that when the rates of temporal frame occlusion mask and skeleton joint spatial occlusion "
            "mask are respectively 0.5 and 0.6, CrossMoCo can reach the highest accuracy on the PKU MMD part II "
            "dataset.")
_FIG_5 = ("The linear evaluation accuracy of the spatiotemporal mask is the highest. The single spatial mask performs "
          "better than the single temporal mask.")
_TABLE_II = "Crossed encoder reaches the highest accuracy"
_TABLE_III = "The accuracy is the highest when we adopt two independent negative memory banks."
_TABLE_IV = "It can be seen that when the MLP layer is one, the test accuracy is the highest on PKU MMD Part II."


def _claims() -> tuple[Claim, ...]:
    best = "table1-t0.5-s0.6"
    claims = [
        Claim(f"table1-t0.5-s0.6-vs-{cell}", "Table I", _TABLE_I, (f"{best}-ucla", f"table1-{cell}-ucla"),
              (best, f"table1-{cell}"),
              note="Table I itself prints (0.6, 0.6) 0.6 above the text's choice." if cell == "t0.6-s0.6" else "")
        for cell in ("t0.2-s0.2", "t0.4-s0.4", "t0.6-s0.6", "t0.8-s0.6")
    ]  # fmt: skip
    claims += [
        Claim("fig5-spatiotemporal-vs-spatial", "Fig. 5", _FIG_5, (f"{best}-ucla", "table1-spatial-only-ucla"),
              note="Fig. 5 draws curves without figures: the order is the claim."),
        Claim("fig5-spatiotemporal-vs-temporal", "Fig. 5", _FIG_5, (f"{best}-ucla", "table1-temporal-only-ucla"),
              note="Fig. 5 draws curves without figures: the order is the claim."),
        Claim("fig5-spatial-vs-temporal", "Fig. 5", _FIG_5, ("table1-spatial-only-ucla", "table1-temporal-only-ucla"),
              note="Fig. 5 draws curves without figures: the order is the claim."),
    ]  # fmt: skip
    for worse in ("uncrossed", "gcn", "mlp"):
        claims += _ablation("II", "crossed", worse, _TABLE_II)
    claims += _ablation("II", "gcn", "uncrossed", "The experiment shows that the simple combination of multiple "
                        "encoders cannot make the model perform better than the single encoder.",
                        note="The sentence follows the LE discussion; Table II's FE column prints the uncrossed "
                             "pair 1.1 above ST-GCN alone, so only LE is claimed.", columns=("le",))
    two = "two-backbones"  # Table II under the two-backbone reading of "two encoders" (experiments/tables.py)
    for worse in (f"uncrossed-{two}", "gcn", "mlp"):
        claims += [Claim(f"table2-crossed-{two}-vs-{worse}-{col}", f"Table II ({col.upper()})", _TABLE_II,
                         (f"table2-crossed-{two}-ucla-{col}", f"table2-{worse}-ucla-{col}"),
                         (f"table2-crossed-{col}", f"table2-{worse.removesuffix('-' + two)}-{col}"),
                         note="Both CrossMoCo encoders on backbones of their own (encoder.mlp_shared_backbone=false).")
                   for col in ("le", "fe")]  # fmt: skip
    for worse in ("banks1", "banks3"):
        claims += _ablation("III", "banks2", worse, _TABLE_III)
    for worse in ("mlp2", "mlp3"):
        claims += _ablation("IV", "mlp1", worse, _TABLE_IV)
    v_quote = "Table V shows that our CrossMoCo performs best on the NTU-60 xview dataset and the NW-UCLA dataset."
    v_rows = ("table5-crossmoco-ucla", "table5-3s-skeletonclr-ucla")
    claims += [
        Claim("table5-crossmoco-vs-skeletonclr-ucla", "Table V", v_quote, v_rows, v_rows,
              note="On the proxy schedule both methods train and are probed on the joint stream alone."),
        Claim("table5-crossmoco-shear-crop-vs-skeletonclr-ucla", "Table V", v_quote,
              ("table5-crossmoco-shear-crop-ucla", "table5-3s-skeletonclr-ucla"), v_rows,
              note="Both with shear + crop: the methods compared with one augmentation (one stream on the proxy)."),
        Claim("table5-crossmoco-vs-skeletonclr-ucla-cpu", "Table V", v_quote, v_rows, v_rows, profile="cpu"),
        Claim("table5-crossmoco-shear-crop-vs-skeletonclr-ucla-cpu", "Table V", v_quote,
              ("table5-crossmoco-shear-crop-ucla", "table5-3s-skeletonclr-ucla"), v_rows, profile="cpu",
              note="CrossMoCo with shear + crop instead of the paper's mask: this project's earlier recipe."),
    ]  # fmt: skip
    vi_quote = ("Specially, CrossMoCo has achieved the best results both on the PKU MMD Part II and the NW-UCLA "
                "datasets.")
    for pct, crossclr in (("1pct", 29.9), ("10pct", 66.5)):
        claims.append(Claim(f"table6-crossmoco-vs-3s-crossclr-ucla-{pct}", "Table VI", vi_quote,
                            (f"table6-crossmoco-ucla-{pct}", None), printed_other=crossclr, profile="cpu",
                            note="3s-CrosSCLR does not run here: the measured figure is compared with its printed "
                                 "one (unpaired)."))  # fmt: skip
    return tuple(claims)


CLAIMS: tuple[Claim, ...] = _claims()


def claim_rows(profile: str | None = None) -> tuple[str, ...]:
    """Every row a claim measures (of one profile, or all), in the claims' order, each once."""
    out = [r for c in CLAIMS if profile in (None, c.profile) for r in c.rows if r is not None]
    return tuple(dict.fromkeys(out))


# ------------------------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Paired:
    """What one side of a comparison measured at one seed: its figure and, where kept, per-clip correctness."""

    figure: float  # top-1 in %
    correct: np.ndarray | None  # (clips,) mean correctness over label subsets, or None


def bootstrap_interval(
    better: Sequence[Paired], worse: Sequence[Paired] | None, printed_other: float | None = None, *,
    resamples: int = BOOTSTRAP, seed: int = 0,
) -> tuple[float, float]:
    """The 95% interval of the mean paired difference (points) by a bootstrap over seeds and clips.

    Each resample draws ``n`` seeds with replacement and, where both sides of a seed kept per-clip correctness,
    ``C`` clips with replacement (one draw shared by every seed and both sides: the same test clips); a seed
    without predictions contributes its figure difference as measured. Against a printed figure (``worse`` None)
    the difference is ``better - printed_other``.

    Shape:
        each ``Paired.correct``: (C,) with the same C for every seed
    """
    n = len(better)
    if n == 0:
        raise ValueError("no seeds to resample")
    if worse is None and printed_other is None:
        raise ValueError("a comparison without a second side needs the printed figure (printed_other)")
    rng = np.random.default_rng(seed)
    clips = {len(p.correct) for p in better if p.correct is not None}
    clips |= {len(p.correct) for p in worse or () if p.correct is not None}
    if len(clips) > 1:
        raise ValueError(f"predictions of different lengths {sorted(clips)}: not the same test clips")
    per_seed = []  # (C,) per-clip differences in points, or a scalar figure difference
    for i in range(n):
        b = better[i]
        other = worse[i] if worse is not None else None
        if b.correct is not None and (other is None or other.correct is not None):
            base = other.correct if other is not None else float(printed_other) / 100.0  # type: ignore[arg-type]
            per_seed.append(100.0 * (b.correct - base))
        else:
            per_seed.append(np.asarray(b.figure - (other.figure if other is not None else float(printed_other))))  # type: ignore[arg-type]
    seeds = rng.integers(0, n, size=(resamples, n))  # (B, n)
    c = clips.pop() if clips else 0
    per_clip = [i for i, d in enumerate(per_seed) if d.ndim]
    means_by_seed = np.zeros((resamples, n))  # (B, n): each seed's difference under resample b's clips
    if c:
        picks = rng.integers(0, c, size=(resamples, c))  # (B, C)
        weights = np.zeros((resamples, c))
        np.add.at(weights, (np.arange(resamples)[:, None], picks), 1.0 / c)  # (B, C): clip multiplicities / C
        means_by_seed[:, per_clip] = weights @ np.stack([per_seed[i] for i in per_clip]).T  # (B, C) @ (C, n')
    for i, d in enumerate(per_seed):
        if not d.ndim:
            means_by_seed[:, i] = float(d)
    means = np.take_along_axis(means_by_seed, seeds, axis=1).mean(axis=1)  # (B,)
    lo, hi = np.quantile(means, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return float(lo), float(hi)


def t_interval(diffs: Sequence[float]) -> tuple[float, float]:
    """The 95% Student-t interval of the mean of the per-seed differences (seeds as the only source of spread)."""
    from scipy.stats import t as student_t

    n = len(diffs)
    mean = float(np.mean(diffs))
    if n < 2:
        return mean, mean
    half = float(student_t.ppf((1 + CONFIDENCE) / 2, n - 1)) * float(np.std(diffs, ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def seeds_needed(diffs: Sequence[float]) -> int | None:
    """Paired seeds for a 95% t-interval (the one ``t_interval`` draws) narrower than the measured mean difference:
    the smallest n with ``t(0.975, n - 1) sd / sqrt(n) < |mean|`` at the seeds' sample sd, and more than measured
    (the interval of the verdict also resamples clips, so it can be wider than the seeds' t-interval). None: no
    spread measured or no difference."""
    from scipy.stats import t as student_t

    if len(diffs) < 2:
        return None
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
    if mean == 0 or sd == 0:
        return None
    n = max(len(diffs) + 1, math.ceil((Z * sd / abs(mean)) ** 2))  # the normal bound is below the t one
    while float(student_t.ppf((1 + CONFIDENCE) / 2, n - 1)) * sd / math.sqrt(n) >= abs(mean):
        n += 1
    return n


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]  # per seed, better - worse (points)
    interval: tuple[float, float] | None
    clips: bool  # every seed's interval resampled clips too
    verdict: str  # "holds", "reversed", "not resolved at n seeds", "not measured"

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.diffs)) if self.diffs else None

    @property
    def sd(self) -> float | None:
        return float(np.std(self.diffs, ddof=1)) if len(self.diffs) > 1 else None


def _by_seed(records: list[dict[str, Any]], row_id: str, profile: str) -> dict[int, dict[str, Any]]:
    return {(r["seed"] if r["seed"] is not None else DEFAULT_SEED): r for r in records
            if r["row_id"] == row_id and r["profile"] == profile}


def _paired(root: Path, record: dict[str, Any], profile: str) -> Paired:
    correct = load_predictions(root, record["row_id"], profile, record["seed"])
    return Paired(record["measured"], None if correct is None else correct.mean(axis=0))


def judge(claim: Claim, root: str | Path, records: list[dict[str, Any]] | None = None) -> Verdict:
    """A claim's verdict from ``<root>/results`` (``records``: already loaded)."""
    root = Path(root)
    records = load_results(root) if records is None else records
    better = _by_seed(records, claim.rows[0], claim.profile)
    worse = _by_seed(records, claim.rows[1], claim.profile) if claim.rows[1] is not None else None
    seeds = tuple(sorted(set(better) & set(worse) if worse is not None else set(better)))
    if not seeds:
        return Verdict(claim, (), (), None, False, "not measured")
    b = [_paired(root, better[s], claim.profile) for s in seeds]
    w = [_paired(root, worse[s], claim.profile) for s in seeds] if worse is not None else None
    other = claim.printed_other
    theirs = [wi.figure for wi in w] if w is not None else [float(other)] * len(b)  # type: ignore[arg-type]
    diffs = tuple(round(bi.figure - t, 4) for bi, t in zip(b, theirs, strict=True))
    clips = all(p.correct is not None for p in b + (w or []))
    if len(seeds) < MIN_SEEDS:
        return Verdict(claim, seeds, diffs, None, clips, f"not resolved at {len(seeds)} seed{'s' * (len(seeds) > 1)}")
    lo, hi = bootstrap_interval(b, w, other)
    t_lo, t_hi = t_interval(diffs)
    lo, hi = min(lo, t_lo), max(hi, t_hi)  # with few seeds the bootstrap's seed resampling is too narrow
    if lo > 0:  # the claim is always "better > worse": the rows are in the claimed order
        verdict = "holds"
    elif hi < 0:
        verdict = "reversed"
    else:
        verdict = f"not resolved at {len(seeds)} seeds"
    return Verdict(claim, seeds, diffs, (lo, hi), clips, verdict)


def judge_all(root: str | Path) -> list[Verdict]:
    records = load_results(Path(root))
    return [judge(c, root, records) for c in CLAIMS]


# ------------------------------------------------------------------------------------------- the report


def _fmt(v: float | None, sign: bool = True) -> str:
    return "—" if v is None else (f"{v:+.1f}" if sign else f"{v:.1f}")


def _compared(claim: Claim) -> str:
    better, worse = claim.rows
    label = get_row(better).label
    other = get_row(worse).label if worse is not None else f"3s-CrosSCLR as printed ({claim.printed_other:g})"
    return f"{label} > {other}"


def verdict_table(verdicts: Sequence[Verdict]) -> str:
    """The claims report as Markdown: per claim the paper's difference, the measured paired difference (mean, sd,
    95% interval) over n seeds and the verdict; the quoted sentences follow the table."""
    lines = [
        "| claim | source | compared (measured on NW-UCLA) | profile | paper diff | measured diff (sd) | 95% interval "
        "| seeds | verdict |",
        "|---|---|---|---|---:|---:|---|---:|---|",
    ]
    for v in verdicts:
        c = v.claim
        interval = "—" if v.interval is None else f"[{v.interval[0]:+.1f}, {v.interval[1]:+.1f}]" + (
            "" if v.clips else " (seeds only)")
        spread = "" if v.sd is None else f" ({v.sd:.1f})"
        verdict = v.verdict
        if verdict.startswith("not resolved") and (need := seeds_needed(v.diffs)) is not None:
            verdict += (f"; ~{need} would resolve {_fmt(v.mean)}" if need <= MAX_SEEDS_SHOWN
                        else f"; no difference: over {MAX_SEEDS_SHOWN} seeds to resolve {_fmt(v.mean)}")
        lines.append(f"| `{c.key}` | {c.source} | {_compared(c)} | {c.profile} | {_fmt(c.paper_diff)} | "
                     f"{_fmt(v.mean)}{spread} | {interval} | {len(v.seeds)} | {verdict} |")
    quotes: dict[str, list[str]] = {}
    for v in verdicts:
        quotes.setdefault(f"{v.claim.source.split(' (')[0]}: \"{v.claim.quote}\"", []).append(v.claim.key)
    lines += ["", "What each claim quotes:", ""]
    lines += [f"- {q} ({', '.join(f'`{k}`' for k in keys)})" for q, keys in quotes.items()]
    notes = [f"- `{v.claim.key}`: {v.claim.note}" for v in verdicts if v.claim.note]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def summary_counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many claims hold, are reversed, are not resolved, or were not measured."""
    out = {"holds": 0, "reversed": 0, "not resolved": 0, "not measured": 0}
    for v in verdicts:
        out["not resolved" if v.verdict.startswith("not resolved") else v.verdict] += 1
    return out


# ------------------------------------------------------------------------------- does the proxy order as the full?

ORDER_ROWS = ("table5-crossmoco-shear-crop-ucla", "table5-3s-skeletonclr-ucla", "table5-crossmoco-ucla",
              "table5-random-ucla")  # settings measured on both schedules (the `cpu` figures are Table V's rows)


@dataclass(frozen=True)
class OrderCheck:
    rows: tuple[str, ...]
    proxy: dict[str, tuple[float, int]]  # row -> (mean, seeds) on the proxy schedule
    full: dict[str, tuple[float, int]]  # row -> (mean, seeds) on the full schedule
    pairs: tuple[tuple[str, str, bool], ...]  # (row a, row b, the two schedules order them alike)

    @property
    def agree(self) -> int:
        return sum(ok for *_, ok in self.pairs)


def order_check(root: str | Path, proxy: str = "proxy", full: str = "cpu", rows: Sequence[str] = ORDER_ROWS,
                records: list[dict[str, Any]] | None = None) -> OrderCheck:
    """Each row's mean over its seeds on both schedules, and for every pair of rows measured on both whether the
    proxy orders them as the full schedule does (what justifies reading the claims off the proxy). A pair is
    compared on the seeds both of its rows have on a schedule (paired), where there are such seeds."""
    records = load_results(Path(root)) if records is None else records

    def by_seed(profile: str) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for r in records:
            if r["row_id"] in rows and r["profile"] == profile:
                out.setdefault(r["row_id"], {})[r["seed"] if r["seed"] is not None else DEFAULT_SEED] = r["measured"]
        return out

    def means(figures: dict[str, dict[int, float]]) -> dict[str, tuple[float, int]]:
        return {row: (float(np.mean(list(v.values()))), len(v)) for row, v in figures.items()}

    def gap(figures: dict[str, dict[int, float]], a: str, b: str) -> float:
        common = sorted(set(figures[a]) & set(figures[b]))
        if common:
            return float(np.mean([figures[a][s] - figures[b][s] for s in common]))
        return float(np.mean(list(figures[a].values())) - np.mean(list(figures[b].values())))

    p, f = by_seed(proxy), by_seed(full)
    both = [r for r in rows if r in p and r in f]
    pairs = tuple((a, b, gap(p, a, b) * gap(f, a, b) > 0) for i, a in enumerate(both) for b in both[i + 1:])
    return OrderCheck(tuple(rows), means(p), means(f), pairs)


def order_table(check: OrderCheck) -> str:
    """The order check as Markdown: each row's mean (seeds) on both schedules, then the pairs."""
    def cell(v: tuple[float, int] | None) -> str:
        return "—" if v is None else f"{v[0]:.1f} ({v[1]})"

    lines = ["| row | proxy: mean (seeds) | cpu: mean (seeds) |", "|---|---:|---:|"]
    lines += [f"| `{r}` | {cell(check.proxy.get(r))} | {cell(check.full.get(r))} |" for r in check.rows]
    if check.pairs:
        lines += ["", f"The proxy orders {check.agree} of {len(check.pairs)} pairs as the `cpu` profile does (each "
                  "pair compared on the seeds both rows have on a schedule)"
                  + ("." if check.agree == len(check.pairs) else ": " + "; ".join(
                      f"`{a}` vs `{b}` disagree" for a, b, ok in check.pairs if not ok) + ".")]
    return "\n".join(lines) + "\n"
