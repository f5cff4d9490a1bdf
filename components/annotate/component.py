"""KFP component of the annotate stage (runs in its stage image, or in kfp.local)."""
from kfp.dsl import Dataset, Input, Output

from components.common.kfp_inputs import stage_component
from components.annotate.params import AnnotateParams


@stage_component("annotate", AnnotateParams)
def annotate_op(params: AnnotateParams, selected: Input[Dataset], labelled: Output[Dataset]):
    """Label the kept images from their seeds and edit targets."""
    from components.annotate.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("annotate", params, run, [selected.path], labelled.path)
    labelled.metadata.update({"images": counts["images"], "disagreements": counts["disagreements"]})
