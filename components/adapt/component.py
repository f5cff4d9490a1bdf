"""KFP component of the adapt stage (runs in its stage image, or in kfp.local)."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("adapt"), install_kfp_package=False)
def adapt_op(params: dict, expressions: Input[Dataset], images: Output[Dataset]):
    """Colour-match and blend every edited face back into its frame."""
    from components.adapt.params import AdaptParams
    from components.adapt.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("adapt", AdaptParams.model_validate(params), run, [expressions.path], images.path)
    images.metadata.update({"images": counts["images"], "rejected": counts["rejected"]})
