"""A static seed review page: one row per seed with its images, AU tick boxes and an emotion menu.

Everything is in one HTML file (thumbnails as data URIs, no server); "Save seed list"
downloads the ticked labels as a YAML seed list that `fersynth annotate --seed-list` reads.
"""
from __future__ import annotations

import base64
import html
import json

import cv2
import numpy as np

from components.common.facs import EMOTIONS

from .seedlist import SeedLabel


def _thumb(image: np.ndarray, size: int = 80) -> str:
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR) if small.ndim == 3 else small,
                           [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


SCRIPT = """
function saveSeedList() {
  const lines = ["seeds:"];
  document.querySelectorAll("tr[data-seed]").forEach(row => {
    const emotion = row.querySelector("select").value;
    const aus = [...row.querySelectorAll("input:checked")].map(box => "AU" + box.dataset.au);
    if (!emotion && aus.length === 0) return;
    lines.push("  " + row.dataset.seed + ":");
    if (emotion) lines.push("    emotion: " + emotion);
    if (aus.length) lines.push("    aus: [" + aus.join(", ") + "]");
  });
  const blob = new Blob([lines.join("\\n") + "\\n"], {type: "text/yaml"});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "seed_list.yaml";
  link.click();
}
"""


def write_gallery(seeds: dict[int, list[np.ndarray]], known: dict[int, SeedLabel], au_units: list[int]) -> str:
    """The page for `seeds` (seed -> a few of its images), pre-filled from `known` labels."""
    header = "".join(f"<th>AU{a}</th>" for a in au_units)
    rows = []
    for seed, images in seeds.items():
        label = known.get(seed, SeedLabel())
        thumbs = "".join(f'<img src="{_thumb(i)}" alt="seed {seed}">' for i in images)
        boxes = "".join(f'<td><input type="checkbox" data-au="{a}"{" checked" if label.aus.get(a, 0) > 0 else ""}>'
                        f"</td>" for a in au_units)
        options = "".join(f'<option value="{e}"{" selected" if label.emotion == e else ""}>{e}</option>'
                          for e in ("",) + EMOTIONS)
        rows.append(f'<tr data-seed="{seed}"><td>{seed}</td><td class="images">{thumbs}</td>'
                    f"<td><select>{options}</select></td>{boxes}</tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>fersynth seed review</title>
<style>body{{font-family:sans-serif;margin:1em}}td,th{{border-bottom:1px solid #ddd;padding:2px 4px}}
img{{margin-right:2px}}td.images{{white-space:nowrap}}</style><script>{SCRIPT}</script></head><body>
<h1>Seed review</h1><p>Tick the action units you see and pick an emotion per seed, then
<button onclick="saveSeedList()">Save seed list</button> and pass the file to
<code>fersynth annotate --seed-list seed_list.yaml</code>. {html.escape(str(len(seeds)))} seeds.</p>
<table><tr><th>seed</th><th>images</th><th>emotion</th>{header}</tr>{"".join(rows)}</table>
<script>window.fersynthSeeds = {json.dumps(sorted(seeds))};</script></body></html>"""
