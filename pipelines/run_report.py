"""report.html of an embedded run, one self-contained page at the top of the run folder:
the headline numbers, where the time went, every stage's counts, a full-size contact sheet, the
quality selection's best and worst images, the evaluation's confusion matrices, privacy and bias."""
from __future__ import annotations

import csv
import html
import json
from collections import Counter
from pathlib import Path

import numpy as np

from components.bias.report import figures as bias_figures
from components.bias.report import section as bias_section
from components.common.html import figure_uri, fmt, page, table, thumb_uri
from components.common.imageio import ImageError, read_image
from components.common.manifest import read_manifest
from components.privacy.report import histogram_uri
from components.privacy.report import section as privacy_section
from pipelines.console import stage_result

SHEET_IDENTITIES = 8
QUALITY_EXAMPLES = 8
# Extra style: headline cards, image grids at native size that zoom on click, confusion cells.
STYLE = ("<style>.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ccc;border-radius:6px;"
         "padding:8px 14px;min-width:120px}.card b{display:block;font-size:1.6em}.card span{color:#555}"
         ".sheet{border-collapse:collapse}.sheet td{border:none;padding:2px;text-align:center;font-size:0.8em}"
         ".sheet img,.strip img{image-rendering:auto;cursor:zoom-in}.zoom img{width:auto;transform:scale(2);"
         "transform-origin:top left;margin:0 100% 100% 0}.strip{display:flex;flex-wrap:wrap;gap:6px}"
         ".strip figure{margin:0;text-align:center;font-size:0.8em}td.cm{text-align:right;min-width:2.5em}"
         "table.small td,table.small th{padding:1px 6px;font-size:0.9em;border-color:#ddd}</style>"
         "<script>function zoom(e){e.currentTarget.classList.toggle('zoom')}</script>")
STAGE_REPORTS = {"identity": "identity/preview.png", "expression": "expression/contact_sheet.png",
                 "adapt": "adapt/contact_sheet.png", "select": "select/report.html",
                 "annotate": "annotate/seed_review.html", "privacy": "privacy/privacy.html",
                 "evaluate": "evaluate/report.html", "bias": "bias/bias.html"}


def _cards(summary: dict) -> str:
    h = summary.get("headline") or {}
    cards = [("identities", h.get("identities"), "made and kept by identity"),
             ("images", f"{h.get('images_made')} → {h.get('images_kept')}", "edited → kept by selection"),
             ("trained on", h.get("train_images"), "images of training identities"),
             ("held-out accuracy", fmt(h.get("held_out_accuracy")), "synthetic identities never trained on"),
             ("held-out macro-F1", fmt(h.get("held_out_macro_f1")), "")]
    cards += [(f"{name} accuracy", fmt(accuracy), "real labelled faces")
              for name, accuracy in (h.get("real_test_accuracy") or {}).items()]
    cards += [("FID / KID", f"{fmt(h.get('fid_kept'), 1)} / {fmt(h.get('kid_kept'), 4)}", "kept vs references"),
              ("run time", f"{summary['wall_s']:.0f} s", "")]
    return '<div class="cards">' + "".join(
        f'<div class="card"><span>{html.escape(str(title))}</span><b>{html.escape(str(value))}</b>'
        f'<span>{html.escape(note)}</span></div>' for title, value, note in cards) + "</div>"


def _time_chart(stages: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stages)
    seconds = [stages[n].get("timings_s", {}).get("total") or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 0.8))
    ax.barh(names[::-1], seconds[::-1], color="#4c72b0")
    for y, s in enumerate(seconds[::-1]):
        ax.text(s, y, f" {s:.1f} s", va="center", fontsize=8)
    ax.set_xlabel("seconds")
    ax.set_xlim(0, max(seconds + [1.0]) * 1.18)
    ax.spines[["top", "right"]].set_visible(False)
    return f'<img src="{figure_uri(fig)}" alt="seconds per stage">'


def _small_table(counts: dict) -> str:
    """A stage's counts as a two-column table; nested counts (per class, refused) as one row each."""
    rows = []
    for key, value in counts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {fmt(v, 3) if isinstance(v, float) else v}" for k, v in value.items()) or "–"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, float):
            value = fmt(value)
        rows.append(f"<tr><td>{html.escape(key.replace('_', ' '))}</td><td>{html.escape(str(value))}</td></tr>")
    return f'<table class="small">{"".join(rows)}</table>'


def _stage_rows(stages: dict, run_dir: Path) -> list[list]:
    rows = []
    for name, info in stages.items():
        what = stage_result(name, info.get("counts", {}))
        report = STAGE_REPORTS.get(name)
        link = f'<a href="{report}">{html.escape(Path(report).name)}</a>' if report and (run_dir / report).exists() \
            else ""
        rows.append([f'<a href="{name}/">{html.escape(name)}</a>', html.escape(what),
                     f"<details><summary>counts</summary>{_small_table(info.get('counts', {}))}</details>",
                     fmt(info.get("timings_s", {}).get("total"), 1), link])
    return rows


def _contact_sheet(run_dir: Path) -> str:
    """Identities x expressions from the adapt dataset at their own size, target and intensity under each."""
    try:
        rows = read_manifest(run_dir / "adapt")
    except Exception as exc:  # the report never fails a finished run
        return f"<p class=note>No contact sheet: {html.escape(str(exc))}</p>"
    by_parent: dict[str, list[dict]] = {}
    for row in rows:
        by_parent.setdefault(row.get("parent_id") or row["id"], []).append(row)
    lines = []
    for parent in list(by_parent)[:SHEET_IDENTITIES]:
        cells = []
        for row in by_parent[parent]:
            try:
                image = read_image(run_dir / "adapt" / row["path"])
            except ImageError:
                continue
            intensity = row.get("target_intensity")
            caption = f"{row.get('target_emotion') or row.get('target_kind', '')} " + \
                (f"{float(intensity):.2f}" if intensity not in (None, "") else "")
            cells.append(f'<td><img src="{thumb_uri(image, image.shape[0])}" alt="{html.escape(row["id"])}" '
                         f'title="{html.escape(row["id"])}"><br>{html.escape(caption.strip())}</td>')
        lines.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<p class=note>The first {min(len(by_parent), SHEET_IDENTITIES)} identities, every edit at the size '
            f'training sees it; click the sheet to zoom. Full sheet: <a href="adapt/contact_sheet.png">'
            f'adapt/contact_sheet.png</a>.</p><div onclick="zoom(event)"><table class="sheet">{"".join(lines)}'
            "</table></div>")


def _quality(run_dir: Path, summary: dict, stages: dict) -> str:
    """The selection's best and worst kept images by combined score, and refused ones with their reason."""
    path = run_dir / "select" / "selection.csv"
    if not path.exists():
        return ""
    with path.open(encoding="utf-8") as f:
        records = [r for r in csv.DictReader(f) if r.get("path")]
    kept = sorted((r for r in records if r["kept"] == "1"), key=lambda r: -float(r["score"]))
    refused = [r for r in records if r["kept"] != "1" and r["reason"] != "not_in_top_k"]

    def strip(chosen: list[dict], caption) -> str:
        figures = []
        for r in chosen:
            try:
                image = read_image(run_dir / "adapt" / r["path"])
            except ImageError:
                continue
            figures.append(f'<figure><img src="{thumb_uri(image, max(96, image.shape[0]))}" alt="{r["id"]}">'
                           f"<figcaption>{html.escape(caption(r))}</figcaption></figure>")
        return f'<div class="strip" onclick="zoom(event)">{"".join(figures)}</div>'

    score = lambda r: f"{r['target_emotion']} · score {float(r['score']):.2f}"  # noqa: E731
    distances = stages["select"].get("distances", {})
    fid_rows = [[html.escape(name), fmt(d.get("fid"), 1), fmt(d.get("kid"), 4), d.get("n_eval")]
                for name, d in distances.items()]
    parts = [f'<p><a href="{summary["quality_report"]}">quality report</a> (every score and plot); labels in '
             f'<a href="{summary["labels"]}">{summary["labels"]}</a>.</p>',
             "<h3>Best kept</h3>", strip(kept[:QUALITY_EXAMPLES], score),
             "<h3>Worst kept</h3>", strip(kept[-QUALITY_EXAMPLES:][::-1], score)]
    if refused:
        parts += ["<h3>Refused</h3>", strip(refused[:QUALITY_EXAMPLES], lambda r: r["reason"].replace("_", " "))]
    if fid_rows:
        parts += ["<h3>Distance to the references</h3>", table(fid_rows, ["set", "FID", "KID", "images"])]
    return "".join(parts)


def _confusion(matrix: list[list[int]], classes: list[str]) -> str:
    """A row-normalised confusion matrix as a table; the darker the cell, the larger its share of the row."""
    m = np.asarray(matrix, float)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in classes) + "</tr>"
    body = ""
    for i, name in enumerate(classes):
        cells = "".join(f'<td class="cm" style="background:rgba(76,114,176,{share[i, j]:.2f});'
                        f'color:{"#fff" if share[i, j] > 0.55 else "#000"}">{int(m[i, j])}</td>'
                        for j in range(len(classes)))
        body += f"<tr><th>{html.escape(name)}</th>{cells}</tr>"
    return f"<table>{head}{body}</table>"


def _evaluation(run_dir: Path, summary: dict) -> str:
    path = run_dir / "evaluate" / "metrics.json"
    if not path.exists():
        return ""
    metrics = json.loads(path.read_text())
    rows = [[html.escape(name), r.get("n"), fmt(r.get("accuracy")), fmt(r.get("macro_f1"))]
            for name, r in metrics["sets"].items()]
    parts = [table(rows, ["test set", "images", "accuracy", "macro-F1"])]
    for name, result in metrics["sets"].items():
        if result.get("confusion"):
            parts.append(f"<h3>{html.escape(name)}</h3>" + _confusion(result["confusion"], metrics["classes"]))
    parts.append(f'<p><a href="{summary["evaluation"]}">evaluation report</a>; Triton model repository in '
                 f'<code>{summary["model_repository"]}/</code> (<code>fersynth serve --model-repository '
                 f'{html.escape(str(run_dir / summary["model_repository"]))}</code>).</p>')
    return "".join(parts)


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
    parts = [STYLE, f"<p>Run folder <code>{html.escape(str(run_dir))}</code> · logs in "
                    f'<a href="logs/">logs/</a> · <a href="summary.json">summary.json</a></p>',
             _cards(summary),
             "<h2>Where the time went</h2>", _time_chart(stages),
             "<h2>Stages</h2>", table(_stage_rows(stages, run_dir), ["stage", "result", "counts", "seconds", "report"]),
             "<h2>Faces</h2>", _contact_sheet(run_dir),
             "<h2>Quality selection</h2>", _quality(run_dir, summary, stages),
             "<h2>Evaluation</h2>", _evaluation(run_dir, summary),
             "<h2>Privacy</h2>", _privacy(run_dir),
             "<h2>Bias</h2>", _bias(run_dir)]
    path = run_dir / "report.html"
    path.write_text(page("fersynth run", "".join(parts)), encoding="utf-8")
    return path
