"""KFP components of the train stage: one training run, and one mix of the sweep."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("train"), install_kfp_package=False)
def train_op(params: dict, labelled: Input[Dataset], model: Output[Model]):
    """Train the FER model on the labelled synthetic data (plus real datasets given by URI)."""
    from components.train.params import TrainParams
    from components.train.run import run

    from components.common.stage_cache import run_cached

    counts = run_cached("train", TrainParams.model_validate(params), run, [labelled.path], model.path)
    model.metadata.update({"best_val_score": counts["best_val_score"], "epochs": counts["epochs_run"]})


@dsl.component(base_image=stage_image("train"), install_kfp_package=False)
def train_mix_op(params: dict, ratio: float, labelled: Input[Dataset], model: Output[Model]):
    """One mix of the sweep: the train stage with synthetic_ratio set to `ratio`."""
    from components.common.stage_cache import run_cached
    from components.train.params import TrainParams
    from components.train.run import run

    train_params = TrainParams.model_validate({**params, "synthetic_ratio": ratio})
    counts = run_cached("train", train_params, run, [labelled.path], model.path)
    model.metadata.update({"synthetic_ratio": ratio, "best_val_score": counts["best_val_score"]})
