"""KFP components of the evaluate stage: one evaluation, and the sweep's table of evaluations."""
from kfp import dsl
from typing import List

from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.common.images import stage_image
from components.common.kfp_inputs import stage_component
from components.evaluate.params import EvaluateParams


@stage_component("evaluate", EvaluateParams)
def evaluate_op(params: EvaluateParams, labelled: Input[Dataset], model: Input[Model], evaluation: Output[Dataset],
                metrics: Output[Metrics], classification: Output[ClassificationMetrics], report: Output[HTML]):
    """Evaluate on held-out synthetic identities and any test sets; KFP UI metrics and confusion matrix."""
    import json
    import shutil

    from components.evaluate.run import run

    from components.common.stage_cache import run_cached

    run_cached("evaluate", params, run, [labelled.path], evaluation.path, model_dir=model.path)
    result = json.loads(open(f"{evaluation.path}/metrics.json").read())
    held_out = result["sets"]["synthetic held-out"]
    for key in ("accuracy", "macro_f1", "mean_auc"):
        if held_out.get(key) is not None:
            metrics.log_metric(key, float(held_out[key]))
    if "confusion" in held_out:
        classification.log_confusion_matrix(result["classes"], held_out["confusion"])
    shutil.copyfile(f"{evaluation.path}/report.html", report.path)


@dsl.component(base_image=stage_image("evaluate"), install_kfp_package=False)
def sweep_table_op(evaluations: Input[List[Dataset]], table: Output[Dataset]):
    """The sweep's table: one row per mix, one column per test set."""
    import csv
    import json
    import os

    os.makedirs(table.path, exist_ok=True)
    rows = []
    for evaluation in evaluations:
        result = json.loads(open(f"{evaluation.path}/metrics.json").read())
        cross = result["cross_dataset"]
        rows.append({"training set": cross["rows"][0], **dict(zip(cross["columns"], cross["values"][0]))})
    with open(f"{table.path}/sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
