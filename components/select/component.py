"""KFP component of the select stage (runs in its stage image, or in kfp.local)."""
from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("select"), install_kfp_package=False)
def select_op(params: dict, images: Input[Dataset], selected: Output[Dataset], report: Output[HTML]):
    """Keep the images good enough to train on; the quality report is also an HTML artifact for the KFP UI."""
    import shutil

    from components.select.params import SelectParams
    from components.select.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("select", SelectParams.model_validate(params), run, [images.path], selected.path)
    selected.metadata.update({"kept": counts["kept"], "images_in": counts["images_in"]})
    # report.html embeds its figures, so the single file renders in the KFP UI.
    shutil.copyfile(f"{selected.path}/report.html", report.path)
