"""KFP component of the annotate stage (runs in its stage image, or in kfp.local)."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("annotate"), install_kfp_package=False)
def annotate_op(params: dict, selected: Input[Dataset], labelled: Output[Dataset]):
    """Label the kept images from their seeds and edit targets."""
    from components.annotate.params import AnnotateParams
    from components.annotate.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("annotate", AnnotateParams.model_validate(params), run, [selected.path], labelled.path)
    labelled.metadata.update({"images": counts["images"], "disagreements": counts["disagreements"]})
