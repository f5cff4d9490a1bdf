"""KFP component of the export stage (runs in its stage image, or in kfp.local)."""
from kfp.dsl import Dataset, Input, Model, Output

from components.common.kfp_inputs import stage_component
from components.export.params import ExportParams


@stage_component("export", ExportParams)
def export_op(params: ExportParams, model: Input[Model], labelled: Input[Dataset], repository: Output[Model]):
    """ONNX export with a parity check, written as a Triton model repository."""
    from components.export.run import run

    from components.common.stage_cache import run_cached

    counts = run_cached("export", params, run, [model.path], repository.path, dataset_dir=labelled.path)
    repository.metadata.update({"parity_max_abs_diff": counts["parity_max_abs_diff"]})
