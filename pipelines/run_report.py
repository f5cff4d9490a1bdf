"""report.html of an embedded run: every stage's counts and timings, pictures, quality, evaluation,
and the privacy and bias sections, in one page at the top of the run folder."""
from __future__ import annotations

import csv
import html
import json
from collections import Counter
from pathlib import Path

import numpy as np

from components.bias.report import figures as bias_figures
from components.bias.report import section as bias_section
from components.common.html import fmt, page, table
from components.privacy.report import histogram_uri
from components.privacy.report import section as privacy_section


def _numbers(counts: dict, prefix: str = "") -> list[str]:
    """Each number in a stage's counts as "key value", nested keys spelled out as "outer: key value"."""
    shown = []
    for key, value in counts.items():
        if isinstance(value, dict):
            shown += _numbers(value, f"{key}: ")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            shown.append(f"{prefix}{key} {fmt(value) if isinstance(value, float) else value}")
    return shown


def _stage_rows(stages: dict) -> list[list]:
    rows = []
    for name, info in stages.items():
        shown = ", ".join(_numbers(info.get("counts", {})))[:400]
        rows.append([f'<a href="{name}/">{html.escape(name)}</a>', html.escape(shown),
                     fmt(info.get("timings_s", {}).get("total"), 1)])
    return rows


def _privacy(run_dir: Path) -> str:
    data = json.loads((run_dir / "privacy" / "privacy.json").read_text())
    per = data["per_identity"].values()
    distance = np.array([v["distance"] if v["distance"] is not None else np.inf for v in per], float)
    twin = np.array([v["twin_distance"] if v["twin_distance"] is not None else np.inf for v in per], float)
    summary = {k: v for k, v in data.items() if k not in ("flagged_identities", "per_identity", "problems")}
    return privacy_section(summary, histogram_uri(distance, twin, data["threshold"])) + \
        '<p><a href="privacy/privacy.html">privacy report with the closest pairs</a></p>'


def _bias(run_dir: Path) -> str:
    summary = json.loads((run_dir / "bias" / "bias.json").read_text())
    with (run_dir / "bias" / "skin_tone.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    labels = Counter(r["label"] for r in rows)
    identities = Counter(r["identity"] for r in rows)
    ita_values = [float(r["ita"]) for r in rows if r["ita"]]
    return bias_section(summary, bias_figures(labels, identities, ita_values)) + \
        '<p><a href="bias/bias.html">bias report</a></p>'


def write_run_report(run_dir: Path, summary: dict, stages: dict) -> Path:
    parts = [f"<p>Run folder <code>{html.escape(str(run_dir))}</code>, {fmt(summary['wall_s'], 1)} s.</p>",
             "<h2>Stages</h2>", table(_stage_rows(stages), ["stage", "counts", "seconds"])]
    pictures = [p for p in (summary.get("preview"), summary.get("contact_sheet")) if p]
    if pictures:
        parts.append("<h2>Faces</h2>" + "".join(f'<p><img src="{p}" alt="{p}"></p>' for p in pictures))
    parts.append(f'<h2>Quality selection</h2><p><a href="{summary["quality_report"]}">IQA report</a>; '
                 f'labels in <a href="{summary["labels"]}">{summary["labels"]}</a>.</p>')
    headline = summary.get("held_out_synthetic") or {}
    parts.append("<h2>Evaluation</h2>" + table([[html.escape(k), fmt(v)] for k, v in headline.items()],
                                               ["held-out synthetic identities", ""])
                 + f'<p><a href="{summary["evaluation"]}">evaluation report</a>; Triton model repository in '
                   f'<code>{summary["model_repository"]}/</code> (<code>fersynth serve --model-repository '
                   f'{html.escape(str(run_dir / summary["model_repository"]))}</code>).</p>')
    parts.append("<h2>Privacy</h2>" + _privacy(run_dir))
    parts.append("<h2>Bias</h2>" + _bias(run_dir))
    path = run_dir / "report.html"
    path.write_text(page("fersynth run", "".join(parts)), encoding="utf-8")
    return path
