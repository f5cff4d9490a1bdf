"""A mixing sweep: the same model trained on real + k x synthetic for several k, one accuracy table.

    fersynth sweep --in LABELLED --out DIR --ratios 0 1 2 5 --train '{"real": ["rafdb:/data/raf"]}'

Rows are the training mixes, columns the test sets (held-out synthetic and `test_sets`), as the
paper's table 2 / figure 8. Each mix trains into DIR/k_<ratio>/ (resumable) and is evaluated
into DIR/k_<ratio>/evaluation/. Writes sweep.csv and sweep.json and prints the table.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pydantic import Field

from components.common.config import StageParams
from components.common.imageio import atomic_write_bytes
from components.evaluate.params import EvaluateParams
from components.train.params import TrainParams


class SweepParams(StageParams):
    ratios: list[float] = Field([0.0, 1.0, 2.0, 5.0], description="k values: synthetic identities per real identity")
    train: dict = Field({}, description="train stage parameters shared by every mix (JSON), e.g. real datasets")
    test_sets: list[str] = Field([], description="extra test sets FORMAT:PATH (columns of the table)")


def run(params: SweepParams, in_dir: str | Path, out_dir: str | Path) -> dict:
    from components.evaluate.run import run as evaluate  # torch: only when the sweep runs
    from components.train.run import run as train

    out = Path(out_dir)
    table: dict[str, dict[str, float | None]] = {}
    for ratio in params.ratios:
        mix_dir = out / f"k_{ratio:g}"
        train_params = TrainParams.model_validate({**params.train, "synthetic_ratio": ratio})
        if not train_params.real and ratio != params.ratios[0]:
            raise ValueError("a sweep over mixes needs real datasets in 'train.real'; without them every mix is "
                             "the same all-synthetic training set")
        train(train_params, in_dir, mix_dir)
        evaluate(EvaluateParams(test_sets=params.test_sets), in_dir, mix_dir / "evaluation", model_dir=mix_dir)
        result = json.loads((mix_dir / "evaluation" / "metrics.json").read_text())
        key = result["cross_dataset"]["metric"]
        label = f"real + {ratio:g} x synthetic" if train_params.real else "synthetic only"
        table[label] = {name: r.get(key) for name, r in result["sets"].items()}
    columns = sorted({c for row in table.values() for c in row})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["training set", *columns])
    for label, row in table.items():
        writer.writerow([label, *[f"{row.get(c):.4f}" if row.get(c) is not None else "" for c in columns]])
    atomic_write_bytes(out / "sweep.csv", buf.getvalue().encode())
    atomic_write_bytes(out / "sweep.json", json.dumps(table, indent=2).encode())
    print(buf.getvalue())
    return {"mixes": len(table), "table": table}
