"""KFP component of the expression stage (runs in its stage image, or in kfp.local)."""
from typing import List

from kfp.dsl import Dataset, Input, Output

from components.common.kfp_inputs import stage_component
from components.expression.params import ExpressionParams


@stage_component("expression", ExpressionParams)
def expression_part_op(params: ExpressionParams, shard: int, shards: int, identities: Input[Dataset], part: Output[Dataset]):
    """One shard's part: every requested expression on the shard's identities."""
    from components.common.shards import Shard
    from components.common.stage_cache import run_cached
    from components.expression.run import run

    run_cached("expression", params, run, [identities.path], part.path, shard=Shard(shard, shards))


@stage_component("expression", ExpressionParams)
def expression_merge_op(params: ExpressionParams, identities: Input[Dataset], parts: Input[List[Dataset]],
                        expressions: Output[Dataset]):
    """Join every shard's part into the `expressions` dataset, byte for byte what one worker makes."""
    from components.common.stage_cache import run_cached
    from components.expression.run import run

    counts = run_cached("expression", params, run, [identities.path], expressions.path, parts=[p.path for p in parts])
    expressions.metadata.update({"images": counts["images"], "rejected": counts["rejected"]})
