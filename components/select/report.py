"""The quality report: histograms kept vs rejected, per-class counts, FID table, best/worst sheets."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from components.common.imageio import read_image, write_image  # noqa: E402
from components.common.sheets import tiled  # noqa: E402

PLOTTED = ("brisque", "niqe", "ssim", "psnr", "uqi", "sam", "score")


def _histograms(records: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for ax, metric in zip(axes.ravel(), PLOTTED):
        for kept, colour in ((True, "tab:green"), (False, "tab:red")):
            values = [r[metric] for r in records if r.get(metric) is not None and r["kept"] == kept
                      and np.isfinite(r[metric])]
            if values:
                ax.hist(values, bins=30, alpha=0.6, color=colour, label="kept" if kept else "rejected")
        ax.set_title(metric)
    axes.ravel()[0].legend()
    axes.ravel()[-1].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _class_counts(before: dict[str, int], after: dict[str, int], path: Path) -> None:
    classes = sorted(before)
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(x - 0.2, [before[c] for c in classes], 0.4, label="input")
    ax.bar(x + 0.2, [after.get(c, 0) for c in classes], 0.4, label="kept")
    ax.set_xticks(x, classes)
    ax.legend()
    ax.set_title("images per class")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _embedded(path: Path) -> str:
    """A data: URI, so report.html is one self-contained file (the KFP UI shows single HTML files)."""
    if not path.exists():
        return ""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(out: Path, in_dir: Path, records: list[dict], counts: dict, distances: dict, params) -> str:
    figures = out / "report"
    figures.mkdir(parents=True, exist_ok=True)
    _histograms(records, figures / "histograms.png")
    _class_counts(counts["per_class_in"], counts["per_class_kept"], figures / "classes.png")
    scored = sorted((r for r in records if r.get("score") is not None), key=lambda r: -r["score"])
    for name, chosen in (("best", scored[: params.sheet_size]), ("worst", scored[::-1][: params.sheet_size])):
        if chosen:
            write_image(figures / f"{name}.png", tiled([read_image(in_dir / r["path"]) for r in chosen],
                                                       [f"{r['score']:+.2f}" for r in chosen]))
    reasons = _table(sorted(counts["rejected"].items()), ["reason", "images"])
    classes = _table([[c, counts["per_class_in"][c], counts["per_class_kept"].get(c, 0)]
                      for c in sorted(counts["per_class_in"])], ["class", "input", "kept"])
    fid_rows = [[name, f"{d['fid']:.2f}", f"{d['kid']:.4f}", d["n_eval"], d["n_reference"], d.get("warning", "")]
                for name, d in distances.items()]
    fid_table = _table(fid_rows, ["set", "FID", "KID", "images", "reference images", "note"]) if fid_rows else \
        "<p>FID/KID not computed.</p>"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>fersynth quality report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px}}img{{max-width:100%}}</style></head><body>
<h1>Quality report</h1>
<p>{counts['images_in']} images in, {counts['kept']} kept ({counts['kept'] / max(counts['images_in'], 1):.0%}).
Reference set: {html.escape(counts['reference'])} ({counts['reference_images']} images).
Selection: top {params.top_k} per batch of {params.batch_size}, class-balanced; score weights
{html.escape(str(params.weights))}.</p>
<h2>Rejections</h2>{reasons}
<h2>Classes</h2>{classes}<img src="{_embedded(figures / 'classes.png')}" alt="class counts">
<h2>Set distances (Inception features)</h2>{fid_table}
<h2>Scores, kept vs rejected</h2><img src="{_embedded(figures / 'histograms.png')}" alt="histograms">
<h2>Best</h2><img src="{_embedded(figures / 'best.png')}" alt="best images">
<h2>Worst</h2><img src="{_embedded(figures / 'worst.png')}" alt="worst images">
</body></html>"""
    (out / "report.html").write_text(page, encoding="utf-8")
    return "report.html"
