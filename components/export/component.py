"""KFP component of the export stage (runs in its stage image, or in kfp.local)."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("export"), install_kfp_package=False)
def export_op(params: dict, model: Input[Model], labelled: Input[Dataset], repository: Output[Model]):
    """ONNX export with a parity check, written as a Triton model repository."""
    from components.export.params import ExportParams
    from components.export.run import run

    from components.common.stage_cache import run_cached

    counts = run_cached("export", ExportParams.model_validate(params), run, [model.path], repository.path,
                        dataset_dir=labelled.path)
    repository.metadata.update({"parity_max_abs_diff": counts["parity_max_abs_diff"]})
