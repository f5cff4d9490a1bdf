"""The fersynth pipeline. Stage parameters are passed as one dict per stage, validated
by that stage's pydantic model inside the component, with the model's defaults as the
pipeline defaults (so nothing is declared twice)."""
from kfp import dsl
from kfp.dsl import Dataset, Model

from components.adapt.component import adapt_op
from components.adapt.params import AdaptParams
from components.annotate.component import annotate_op
from components.annotate.params import AnnotateParams
from components.bias.component import bias_op
from components.bias.params import BiasParams
from components.expression.component import expression_op
from components.expression.params import ExpressionParams
from components.identity.component import identity_op
from components.identity.params import IdentityParams
from components.evaluate.params import EvaluateParams
from components.export.params import ExportParams
from components.privacy.component import privacy_op
from components.privacy.params import PrivacyParams
from components.select.component import select_op
from components.select.params import SelectParams
from components.evaluate.component import evaluate_op, sweep_table_op
from components.export.component import export_op
from components.train.component import train_mix_op, train_op
from components.train.params import TrainParams
from pipelines.cluster import apply


def defaults(model) -> dict:
    # KFP parameter values cannot be None: unset optional fields are left out and take the model default.
    return model().model_dump(exclude_none=True)


def data_stages(identity: dict, expression: dict, adapt: dict, select: dict, annotate: dict, privacy: dict):
    """identity -> expression -> adapt -> select -> annotate -> privacy; returns the checked labelled dataset."""
    identity_task = apply(identity_op(params=identity), "identity").set_display_name("identity generation")
    expression_task = apply(expression_op(params=expression, identities=identity_task.outputs["identities"]),
                            "expression").set_display_name("expression editing")
    adapt_task = apply(adapt_op(params=adapt, expressions=expression_task.outputs["expressions"]), "adapt")
    adapt_task.set_display_name("colour and alpha adaptation")
    select_task = apply(select_op(params=select, images=adapt_task.outputs["images"]), "select")
    select_task.set_display_name("IQA selection")
    annotate_task = apply(annotate_op(params=annotate, selected=select_task.outputs["selected"]), "annotate")
    annotate_task.set_display_name("seed annotation")
    privacy_task = apply(privacy_op(params=privacy, labelled=annotate_task.outputs["labelled"]), "privacy")
    privacy_task.set_display_name("privacy check")
    return privacy_task.outputs["checked"]


@dsl.pipeline(name="fersynth", description="Synthetic facial-expression data for FER")
def fer_pipeline(identity: dict = defaults(IdentityParams), expression: dict = defaults(ExpressionParams),
                 adapt: dict = defaults(AdaptParams), select: dict = defaults(SelectParams),
                 annotate: dict = defaults(AnnotateParams), privacy: dict = defaults(PrivacyParams),
                 train: dict = defaults(TrainParams), evaluate: dict = defaults(EvaluateParams),
                 bias: dict = defaults(BiasParams), export: dict = defaults(ExportParams)) -> Model:
    labelled = data_stages(identity, expression, adapt, select, annotate, privacy)
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
                       ratios: list = [1.0, 2.0, 5.0]) -> Dataset:
    labelled = data_stages(identity, expression, adapt, select, annotate, privacy)
    with dsl.ParallelFor(ratios) as ratio:
        mix = apply(train_mix_op(params=train, ratio=ratio, labelled=labelled), "train")
        mix.set_display_name("FER training (mix)")
        evaluation = apply(evaluate_op(params=evaluate, labelled=labelled, model=mix.outputs["model"]), "evaluate")
    table = sweep_table_op(evaluations=dsl.Collected(evaluation.outputs["evaluation"]))
    return apply(table, "evaluate").set_display_name("sweep table").outputs["table"]
