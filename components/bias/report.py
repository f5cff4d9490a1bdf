"""bias.html: class and identity balance, skin-tone distribution, per-group counts and accuracy."""
from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from components.common.html import figure_uri, fmt, page, table  # noqa: E402

from .skin_tone import CATEGORIES  # noqa: E402

TONE_COLOURS = ["#f6e0cf", "#e8c3a4", "#c99a74", "#a8744f", "#7a4e31", "#4a2c1c"]


def _balance_figure(labels: Counter, per_identity: Counter) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    names = [k for k, _ in labels.most_common()]
    left.bar(names, [labels[k] for k in names], color="#4c72b0")
    left.set_title("images per class")
    left.tick_params(axis="x", rotation=45)
    right.hist(list(per_identity.values()), bins=min(30, max(5, len(set(per_identity.values())))), color="#55a868")
    right.set_title("images per identity")
    right.set_xlabel("images")
    right.set_ylabel("identities")
    return figure_uri(fig)


def _ita_figure(ita_values: list[float]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bounds = [90.0] + [low for _, low in CATEGORIES[:-1]] + [-90.0]
    for (name, _), colour, high, low in zip(CATEGORIES, TONE_COLOURS, bounds[:-1], bounds[1:]):
        ax.axvspan(low, high, color=colour, alpha=0.35, label=name)
    ax.hist(ita_values, bins=np.linspace(-90, 90, 61), color="#1f4e79", edgecolor="white", linewidth=0.4)
    ax.set_xlabel("individual typology angle (degrees)")
    ax.set_ylabel("images")
    ax.legend(fontsize=7, ncol=3)
    return figure_uri(fig)


def _group_section(name: str, rows: list[dict], overall: float | None) -> str:
    lines = [[html.escape(r["group"]), r["images"], r["scored"], fmt(r["accuracy"]),
              '<span class="flag">below overall</span>' if r["flagged"] else ""] for r in rows]
    return f"<h3>{html.escape(name)}</h3>" + table(lines, ["group", "images", "scored", "accuracy", ""])


def section(summary: dict, figures: tuple[str, str] | None = None) -> str:
    """The bias section, shared by bias.html and the run report."""
    balance_uri, ita_uri = figures or ("", "")
    facts = table([["images", summary["images"]], ["identities", summary["identities"]],
                   ["classes", html.escape(", ".join(f"{k} {v}" for k, v in summary["classes"].items()))],
                   ["class imbalance (largest / smallest)", fmt(summary["class_imbalance_ratio"], 2)],
                   ["class entropy (1 = balanced)", fmt(summary["class_entropy"])],
                   ["images per identity (min / median / max)",
                    "{min} / {median:g} / {max}".format(**summary["images_per_identity"])],
                   ["identities by number of emotions",
                    html.escape(", ".join(f"{k}: {v}" for k, v in summary["emotions_per_identity"].items()))],
                   ["median ITA", fmt(summary["ita"]["median"], 1)],
                   ["overall accuracy", fmt(summary["overall_accuracy"])]], ["", "value"])
    scoring = summary.get("scoring") or {}
    note = ("<p class=note>Accuracy is " + ("on the model's held-out identities only" if
            scoring.get("held_out_identities_only") else "on every labelled image") + f" ({scoring.get('scored', 0)} "
            "images).</p>" if scoring.get("scored") else
            "<p class=note>No model given: counts only (give a train stage output for per-group accuracy).</p>")
    groups = "".join(_group_section(n, rows, summary["overall_accuracy"]) for n, rows in summary["groups"].items())
    plots = (f"<img src='{balance_uri}' alt='class and identity balance'>"
             f"<img src='{ita_uri}' alt='skin tone distribution'>") if figures else ""
    return f"{facts}{plots}<h2>Groups</h2>{note}{groups}"


def figures(labels: Counter, per_identity: Counter, ita_values: list[float]) -> tuple[str, str]:
    return _balance_figure(labels, per_identity), _ita_figure(ita_values)


def write_report(path: Path, summary: dict, labels: Counter, per_identity: Counter, ita_values: list[float]) -> None:
    body = (f"<p>Dataset: <code>{html.escape(summary['dataset'])}</code>. Skin tone is the individual typology "
            "angle in CIELAB on cheek and forehead patches of the aligned face; ITA is a colour measurement "
            "of the image, sensitive to lighting and colour casts, not a statement about a person.</p>"
            + section(summary, figures(labels, per_identity, ita_values)))
    path.write_text(page("Bias report", body), encoding="utf-8")
