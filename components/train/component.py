"""KFP components of training, evaluation and export (stage images train, evaluate, export)."""
from kfp import dsl
from typing import List

from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("train"), install_kfp_package=False)
def train_op(params: dict, labelled: Input[Dataset], model: Output[Model]):
    """Train the FER model on the labelled synthetic data (plus real datasets given by URI)."""
    from components.train.params import TrainParams
    from components.train.run import run

    from components.common.stage_cache import run_cached

    counts = run_cached("train", TrainParams.model_validate(params), run, [labelled.path], model.path)
    model.metadata.update({"best_val_score": counts["best_val_score"], "epochs": counts["epochs_run"]})


@dsl.component(base_image=stage_image("evaluate"), install_kfp_package=False)
def evaluate_op(params: dict, labelled: Input[Dataset], model: Input[Model], evaluation: Output[Dataset],
                metrics: Output[Metrics], classification: Output[ClassificationMetrics], report: Output[HTML]):
    """Evaluate on held-out synthetic identities and any test sets; KFP UI metrics and confusion matrix."""
    import json
    import shutil

    from components.evaluate.params import EvaluateParams
    from components.evaluate.run import run

    from components.common.stage_cache import run_cached

    run_cached("evaluate", EvaluateParams.model_validate(params), run, [labelled.path], evaluation.path,
               model_dir=model.path)
    result = json.loads(open(f"{evaluation.path}/metrics.json").read())
    held_out = result["sets"]["synthetic held-out"]
    for key in ("accuracy", "macro_f1", "mean_auc"):
        if held_out.get(key) is not None:
            metrics.log_metric(key, float(held_out[key]))
    if "confusion" in held_out:
        classification.log_confusion_matrix(result["classes"], held_out["confusion"])
    shutil.copyfile(f"{evaluation.path}/report.html", report.path)


@dsl.component(base_image=stage_image("export"), install_kfp_package=False)
def export_op(params: dict, model: Input[Model], labelled: Input[Dataset], repository: Output[Model]):
    """ONNX export with a parity check, written as a Triton model repository."""
    from components.export.params import ExportParams
    from components.export.run import run

    from components.common.stage_cache import run_cached

    counts = run_cached("export", ExportParams.model_validate(params), run, [model.path], repository.path,
                        dataset_dir=labelled.path)
    repository.metadata.update({"parity_max_abs_diff": counts["parity_max_abs_diff"]})


@dsl.component(base_image=stage_image("train"), install_kfp_package=False)
def train_mix_op(params: dict, ratio: float, labelled: Input[Dataset], model: Output[Model]):
    """One mix of the sweep: the train stage with synthetic_ratio set to `ratio`."""
    from components.common.stage_cache import run_cached
    from components.train.params import TrainParams
    from components.train.run import run

    train_params = TrainParams.model_validate({**params, "synthetic_ratio": ratio})
    counts = run_cached("train", train_params, run, [labelled.path], model.path)
    model.metadata.update({"synthetic_ratio": ratio, "best_val_score": counts["best_val_score"]})


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
