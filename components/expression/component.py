"""KFP component of the expression stage (runs in its stage image, or in kfp.local)."""
from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("expression"), install_kfp_package=False)
def expression_part_op(params: dict, shard: int, shards: int, identities: Input[Dataset], part: Output[Dataset]):
    """One shard's part: every requested expression on the shard's identities."""
    from components.common.shards import Shard
    from components.common.stage_cache import run_cached
    from components.expression.params import ExpressionParams
    from components.expression.run import run

    run_cached("expression", ExpressionParams.model_validate(params), run, [identities.path], part.path,
               shard=Shard(shard, shards))


@dsl.component(base_image=stage_image("expression"), install_kfp_package=False)
def expression_merge_op(params: dict, identities: Input[Dataset], parts: Input[List[Dataset]], expressions: Output[Dataset]):
    """Join every shard's part into the `expressions` dataset, byte for byte what one worker makes."""
    from components.common.stage_cache import run_cached
    from components.expression.params import ExpressionParams
    from components.expression.run import run

    counts = run_cached("expression", ExpressionParams.model_validate(params), run, [identities.path], expressions.path,
                        parts=[p.path for p in parts])
    expressions.metadata.update({"images": counts["images"], "rejected": counts["rejected"]})
