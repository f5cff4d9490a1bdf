"""KFP component of the bias stage (runs in its stage image, or in kfp.local)."""
from kfp.dsl import Dataset, Input, Model, Output

from components.common.kfp_inputs import stage_component
from components.bias.params import BiasParams


@stage_component("bias", BiasParams)
def bias_op(params: BiasParams, labelled: Input[Dataset], model: Input[Model], report: Output[Dataset]):
    """Class, identity and skin-tone balance of the dataset and per-group accuracy of the model."""
    from components.bias.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("bias", params, run, [labelled.path], report.path, model_dir=model.path)
    report.metadata.update({k: counts[k] for k in ("images", "flagged_groups")})
