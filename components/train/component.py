"""KFP components of the train stage: one training run, and one mix of the sweep."""
from kfp.dsl import Dataset, Input, Model, Output

from components.common.kfp_inputs import stage_component
from components.train.params import TrainParams


@stage_component("train", TrainParams)
def train_op(params: TrainParams, labelled: Input[Dataset], model: Output[Model]):
    """Train the FER model on the labelled synthetic data (plus real datasets given by URI)."""
    from components.train.run import run

    from components.common.stage_cache import run_cached

    counts = run_cached("train", params, run, [labelled.path], model.path)
    model.metadata.update({"best_val_score": counts["best_val_score"], "epochs": counts["epochs_run"]})


@stage_component("train", TrainParams)
def train_mix_op(params: TrainParams, ratio: float, labelled: Input[Dataset], model: Output[Model]):
    """One mix of the sweep: the train stage with synthetic_ratio set to `ratio`."""
    from components.common.stage_cache import run_cached
    from components.train.run import run

    train_params = TrainParams.model_validate({**params.model_dump(), "synthetic_ratio": ratio})
    counts = run_cached("train", train_params, run, [labelled.path], model.path)
    model.metadata.update({"synthetic_ratio": ratio, "best_val_score": counts["best_val_score"]})
