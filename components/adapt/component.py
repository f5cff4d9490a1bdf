"""KFP component of the adapt stage (runs in its stage image, or in kfp.local)."""
from typing import List

from kfp.dsl import Dataset, Input, Output

from components.common.kfp_inputs import stage_component
from components.adapt.params import AdaptParams


@stage_component("adapt", AdaptParams)
def adapt_part_op(params: AdaptParams, shard: int, shards: int, expressions: Input[Dataset], part: Output[Dataset]):
    """One shard's part: colour-matched, blended images of the shard's identities."""
    from components.common.shards import Shard
    from components.common.stage_cache import run_cached
    from components.adapt.run import run

    run_cached("adapt", params, run, [expressions.path], part.path, shard=Shard(shard, shards))


@stage_component("adapt", AdaptParams)
def adapt_merge_op(params: AdaptParams, expressions: Input[Dataset], parts: Input[List[Dataset]], images: Output[Dataset]):
    """Join every shard's part into the `images` dataset, byte for byte what one worker makes."""
    from components.common.stage_cache import run_cached
    from components.adapt.run import run

    counts = run_cached("adapt", params, run, [expressions.path], images.path, parts=[p.path for p in parts])
    images.metadata.update({"images": counts["images"], "rejected": counts["rejected"]})
