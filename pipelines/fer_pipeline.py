"""The fersynth pipeline. Every stage parameter is its own typed pipeline input, `<stage>_<field>`,
with the stage model's default and description (pipelines/pipeline_inputs.py); each stage's
component rebuilds and validates its pydantic model from them (nothing is declared twice)."""
from kfp import dsl
from kfp.dsl import Dataset, Model

from components.adapt.component import adapt_merge_op, adapt_part_op
from components.annotate.component import annotate_op
from components.bias.component import bias_op
from components.evaluate.component import evaluate_op, sweep_table_op
from components.export.component import export_op
from components.expression.component import expression_merge_op, expression_part_op
from components.identity.component import identity_merge_op, identity_part_op
from components.privacy.component import privacy_merge_op, privacy_part_op
from components.select.component import select_merge_op, select_part_op
from components.train.component import train_mix_op, train_op
from pipelines.cluster import apply
from pipelines.pipeline_inputs import typed_pipeline
from pipelines.sharding import sharded_stage, shard_plan_op

DATA_STAGES = ("identity", "expression", "adapt", "select", "annotate", "privacy")


def data_stages(stages: dict[str, dict], shards: int = 1):
    """identity -> expression -> adapt -> select -> annotate -> privacy; returns the checked labelled dataset.

    identity, expression, adapt, select's scoring and privacy's descriptors run as `shards` parallel tasks
    each, merged into one dataset."""
    plan = shard_plan_op(shards=shards).set_display_name("shard plan")
    plan.set_cpu_request("100m").set_cpu_limit("100m").set_memory_request("256M").set_memory_limit("256M")
    identity_task = sharded_stage(identity_part_op, identity_merge_op, "identity", plan, shards, stages["identity"],
                                  "identity generation")
    expression_task = sharded_stage(expression_part_op, expression_merge_op, "expression", plan, shards,
                                    stages["expression"], "expression editing",
                                    identities=identity_task.outputs["identities"])
    adapt_task = sharded_stage(adapt_part_op, adapt_merge_op, "adapt", plan, shards, stages["adapt"],
                               "colour and alpha adaptation", expressions=expression_task.outputs["expressions"])
    select_task = sharded_stage(select_part_op, select_merge_op, "select", plan, shards, stages["select"],
                                "IQA selection", images=adapt_task.outputs["images"])
    annotate_task = apply(annotate_op(**stages["annotate"], selected=select_task.outputs["selected"]), "annotate")
    annotate_task.set_display_name("seed annotation")
    privacy_task = sharded_stage(privacy_part_op, privacy_merge_op, "privacy", plan, shards, stages["privacy"],
                                 "privacy check", labelled=annotate_task.outputs["labelled"])
    return privacy_task.outputs["checked"]


@dsl.pipeline(name="fersynth", description="Synthetic facial-expression data for FER")
@typed_pipeline(*DATA_STAGES, "train", "evaluate", "bias", "export")
def fer_pipeline(stages: dict, shards: int = 1) -> Model:
    """Synthetic facial-expression data for FER.

    Args:
        shards: parallel tasks for each of identity, expression, adapt, select's scoring and privacy's descriptors
    """
    labelled = data_stages(stages, shards)
    train_task = apply(train_op(**stages["train"], labelled=labelled), "train").set_display_name("FER training")
    apply(evaluate_op(**stages["evaluate"], labelled=labelled, model=train_task.outputs["model"]),
          "evaluate").set_display_name("evaluation")
    apply(bias_op(**stages["bias"], labelled=labelled, model=train_task.outputs["model"]), "bias").set_display_name(
        "bias analysis")
    export_task = apply(export_op(**stages["export"], model=train_task.outputs["model"], labelled=labelled), "export")
    export_task.set_display_name("ONNX export")
    return export_task.outputs["repository"]


@dsl.pipeline(name="fersynth-sweep", description="Train on real + k x synthetic for several k, in parallel")
@typed_pipeline(*DATA_STAGES, "train", "evaluate")
def fer_sweep_pipeline(stages: dict, ratios: list = [1.0, 2.0, 5.0], shards: int = 1) -> Dataset:
    """Train on real + k x synthetic for several k, in parallel.

    Args:
        ratios: the k values, synthetic identities per real identity; each trains and evaluates one model
        shards: parallel tasks for each of identity, expression, adapt, select's scoring and privacy's descriptors
    """
    labelled = data_stages(stages, shards)
    with dsl.ParallelFor(ratios) as ratio:
        mix = apply(train_mix_op(**stages["train"], ratio=ratio, labelled=labelled), "train")
        mix.set_display_name("FER training (mix)")
        evaluation = apply(evaluate_op(**stages["evaluate"], labelled=labelled, model=mix.outputs["model"]), "evaluate")
    table = sweep_table_op(evaluations=dsl.Collected(evaluation.outputs["evaluation"]))
    return apply(table, "evaluate").set_display_name("sweep table").outputs["table"]
