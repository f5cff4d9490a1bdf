"""privacy.html: the distance histogram, the closest pairs, and what the check compared."""
from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from components.common.html import figure_uri, fmt, page, table, thumb_uri  # noqa: E402
from components.common.imageio import ImageError, read_image  # noqa: E402
from components.common.manifest import identity_key  # noqa: E402


def histogram_uri(distance: np.ndarray, twin: np.ndarray, threshold: float) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = np.linspace(0, 1.4, 57)
    if np.isfinite(distance).any():
        ax.hist(distance[np.isfinite(distance)], bins=bins, alpha=0.7, label="to the nearest real face")
    if np.isfinite(twin).any():
        ax.hist(twin[np.isfinite(twin)], bins=bins, alpha=0.5, label="to the nearest other synthetic identity")
    ax.axvline(threshold, color="#b00", linestyle="--", label=f"threshold {threshold}")
    ax.set_xlabel("face descriptor distance (dlib 128-d)")
    ax.set_ylabel("synthetic identities")
    ax.legend(fontsize=8)
    return figure_uri(fig)


def section(summary: dict, histogram: str, examples: str = "") -> str:
    """The privacy section, shared by privacy.html and the run report."""
    flagged = summary["flagged"]
    verdict = (f'<p class="flag">{flagged} identities are closer than {summary["threshold"]} to a real face'
               f'{" and were dropped" if summary["dropped_identities"] else " (flagged, kept: set drop to remove)"}.</p>'
               if flagged else f"<p>No synthetic identity is closer than {summary['threshold']} to any of the "
                               f"{summary['references']} real reference faces.</p>")
    if not summary["references"]:
        verdict = '<p class="flag">No real reference faces were given: the memorisation check compared nothing.</p>'
    facts = table([[k.replace("_", " "), html.escape(fmt(v))] for k, v in summary.items()
                   if k not in ("reference_specs",)], ["", "value"])
    where = ("<p class=note>Real faces compared with: " + html.escape(", ".join(summary["reference_specs"]) or "none")
             + ". Real faces enter fersynth only through the identity stage's <code>folder</code> backend, the "
               "select stage's <code>--reference</code> photos, the real training/test sets and this check; what "
               "leaves the pipeline is the synthetic dataset, the reports (which embed small thumbnails) and the "
               "exported model.</p>")
    return f"{verdict}<img src='{histogram}' alt='distance histogram'>{facts}{where}{examples}"


def write_report(path: Path, summary: dict, distance: np.ndarray, twin: np.ndarray, keys: list[str],
                 per_identity: dict, in_dir: Path, rows: list[dict], thumbnails: dict, examples: int) -> None:
    first = {}
    for row in rows:
        first.setdefault(identity_key(row), row)
    order = np.argsort(distance)[:examples] if len(keys) and summary["references"] else []
    lines = []
    for i in order:
        key = keys[i]
        info = per_identity[key]
        try:
            synthetic = f"<img src='{thumb_uri(read_image(in_dir / first[key]['path']))}'>"
        except ImageError:
            synthetic = "(unreadable)"
        reference = thumbnails.get(info["nearest"])
        real = f"<img src='{thumb_uri(reference)}'>" if reference is not None else ""
        mark = ' class="flag"' if info["distance"] is not None and info["distance"] < summary["threshold"] else ""
        lines.append([html.escape(key), synthetic, real, html.escape(str(info["nearest"])),
                      f"<span{mark}>{fmt(info['distance'])}</span>"])
    pairs = "<h2>Closest pairs</h2>" + table(lines, ["identity", "synthetic", "nearest real", "reference",
                                                      "distance"]) if lines else ""
    body = section(summary, histogram_uri(distance, twin, summary["threshold"]), pairs)
    path.write_text(page("Privacy: memorisation check", body), encoding="utf-8")
