"""The fersynth pipeline. Stage parameters are passed as one dict per stage, validated
by that stage's pydantic model inside the component, with the model's defaults as the
pipeline defaults (so nothing is declared twice)."""
from kfp import dsl
from kfp.dsl import Dataset, Model

from components.adapt.component import adapt_merge_op, adapt_part_op
from components.adapt.params import AdaptParams
from components.annotate.component import annotate_op
from components.annotate.params import AnnotateParams
from components.bias.component import bias_op
from components.bias.params import BiasParams
from components.expression.component import expression_merge_op, expression_part_op
from components.expression.params import ExpressionParams
from components.identity.component import identity_merge_op, identity_part_op
from components.identity.params import IdentityParams
from components.evaluate.params import EvaluateParams
from components.export.params import ExportParams
from components.privacy.component import privacy_merge_op, privacy_part_op
from components.privacy.params import PrivacyParams
from components.select.component import select_merge_op, select_part_op
from components.select.params import SelectParams
from components.evaluate.component import evaluate_op, sweep_table_op
from components.export.component import export_op
from components.train.component import train_mix_op, train_op
from components.train.params import TrainParams
from pipelines.cluster import apply
from pipelines.sharding import sharded_stage, shard_plan_op


def defaults(model) -> dict:
    # KFP parameter values cannot be None: unset optional fields are left out and take the model default.
    return model().model_dump(exclude_none=True)


def data_stages(identity: dict, expression: dict, adapt: dict, select: dict, annotate: dict, privacy: dict,
                shards: int = 1):
    """identity -> expression -> adapt -> select -> annotate -> privacy; returns the checked labelled dataset.

    identity, expression, adapt, select's scoring and privacy's descriptors run as `shards` parallel tasks
    each, merged into one dataset."""
    plan = shard_plan_op(shards=shards).set_display_name("shard plan")
    plan.set_cpu_request("100m").set_cpu_limit("100m").set_memory_request("256M").set_memory_limit("256M")
    identity_task = sharded_stage(identity_part_op, identity_merge_op, "identity", plan, shards, identity,
                                  "identity generation")
    expression_task = sharded_stage(expression_part_op, expression_merge_op, "expression", plan, shards, expression,
                                    "expression editing", identities=identity_task.outputs["identities"])
    adapt_task = sharded_stage(adapt_part_op, adapt_merge_op, "adapt", plan, shards, adapt,
                               "colour and alpha adaptation", expressions=expression_task.outputs["expressions"])
    select_task = sharded_stage(select_part_op, select_merge_op, "select", plan, shards, select, "IQA selection",
                                images=adapt_task.outputs["images"])
    annotate_task = apply(annotate_op(params=annotate, selected=select_task.outputs["selected"]), "annotate")
    annotate_task.set_display_name("seed annotation")
    privacy_task = sharded_stage(privacy_part_op, privacy_merge_op, "privacy", plan, shards, privacy, "privacy check",
                                 labelled=annotate_task.outputs["labelled"])
    return privacy_task.outputs["checked"]


@dsl.pipeline(name="fersynth", description="Synthetic facial-expression data for FER")
def fer_pipeline(identity: dict = defaults(IdentityParams), expression: dict = defaults(ExpressionParams),
                 adapt: dict = defaults(AdaptParams), select: dict = defaults(SelectParams),
                 annotate: dict = defaults(AnnotateParams), privacy: dict = defaults(PrivacyParams),
                 train: dict = defaults(TrainParams), evaluate: dict = defaults(EvaluateParams),
                 bias: dict = defaults(BiasParams), export: dict = defaults(ExportParams), shards: int = 1) -> Model:
    labelled = data_stages(identity, expression, adapt, select, annotate, privacy, shards)
    train_task = apply(train_op(params=train, labelled=labelled), "train").set_display_name("FER training")
    apply(evaluate_op(params=evaluate, labelled=labelled, model=train_task.outputs["model"]),
          "evaluate").set_display_name("evaluation")
    apply(bias_op(params=bias, labelled=labelled, model=train_task.outputs["model"]), "bias").set_display_name(
        "bias analysis")
    export_task = apply(export_op(params=export, model=train_task.outputs["model"], labelled=labelled), "export")
    export_task.set_display_name("ONNX export")
    return export_task.outputs["repository"]


@dsl.pipeline(name="fersynth-sweep", description="Train on real + k x synthetic for several k, in parallel")
def fer_sweep_pipeline(identity: dict = defaults(IdentityParams), expression: dict = defaults(ExpressionParams),
                       adapt: dict = defaults(AdaptParams), select: dict = defaults(SelectParams),
                       annotate: dict = defaults(AnnotateParams), privacy: dict = defaults(PrivacyParams),
                       train: dict = defaults(TrainParams), evaluate: dict = defaults(EvaluateParams),
                       ratios: list = [1.0, 2.0, 5.0], shards: int = 1) -> Dataset:
    labelled = data_stages(identity, expression, adapt, select, annotate, privacy, shards)
    with dsl.ParallelFor(ratios) as ratio:
        mix = apply(train_mix_op(params=train, ratio=ratio, labelled=labelled), "train")
        mix.set_display_name("FER training (mix)")
        evaluation = apply(evaluate_op(params=evaluate, labelled=labelled, model=mix.outputs["model"]), "evaluate")
    table = sweep_table_op(evaluations=dsl.Collected(evaluation.outputs["evaluation"]))
    return apply(table, "evaluate").set_display_name("sweep table").outputs["table"]
