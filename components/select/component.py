"""KFP components of the select stage (run in its stage image, or in kfp.local): the images scored in
parts, then ranked and kept once."""
from typing import List

from kfp.dsl import HTML, Dataset, Input, Output

from components.common.kfp_inputs import stage_component
from components.select.params import SelectParams


@stage_component("select", SelectParams)
def select_part_op(params: SelectParams, shard: int, shards: int, images: Input[Dataset], part: Output[Dataset]):
    """One shard's part: face check and quality scores of its images (a contiguous run, on chunk boundaries)."""
    from components.common.shards import Shard
    from components.common.stage_cache import run_cached
    from components.select.run import run

    run_cached("select", params, run, [images.path], part.path, shard=Shard(shard, shards))


@stage_component("select", SelectParams)
def select_merge_op(params: SelectParams, images: Input[Dataset], parts: Input[List[Dataset]], selected: Output[Dataset],
                    report: Output[HTML]):
    """Rank every scored image and keep the best; the quality report is also an HTML artifact for the KFP UI."""
    import shutil

    from components.common.stage_cache import run_cached
    from components.select.run import run

    counts = run_cached("select", params, run, [images.path], selected.path, parts=[p.path for p in parts])
    selected.metadata.update({"kept": counts["kept"], "images_in": counts["images_in"]})
    # report.html embeds its figures, so the single file renders in the KFP UI.
    shutil.copyfile(f"{selected.path}/report.html", report.path)
