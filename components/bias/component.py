"""KFP component of the bias stage (runs in its stage image, or in kfp.local)."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("bias"), install_kfp_package=False)
def bias_op(params: dict, labelled: Input[Dataset], model: Input[Model], report: Output[Dataset]):
    """Class, identity and skin-tone balance of the dataset and per-group accuracy of the model."""
    from components.bias.params import BiasParams
    from components.bias.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("bias", BiasParams.model_validate(params), run, [labelled.path], report.path,
                        model_dir=model.path)
    report.metadata.update({k: counts[k] for k in ("images", "flagged_groups")})
