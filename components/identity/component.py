"""KFP component of the identity stage: the same code runs in the stage image on a
cluster and in `kfp.local` on this machine (lightweight component, no kfp install)."""
from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("identity"), install_kfp_package=False)
def identity_part_op(params: dict, shard: int, shards: int, part: Output[Dataset]):
    """One shard's identities (a contiguous run of seeds, on batch boundaries) into a part."""
    from components.common.shards import Shard
    from components.common.stage_cache import run_cached
    from components.identity.params import IdentityParams
    from components.identity.run import run

    run_cached("identity", IdentityParams.model_validate(params), run, [], part.path, shard=Shard(shard, shards))


@dsl.component(base_image=stage_image("identity"), install_kfp_package=False)
def identity_merge_op(params: dict, parts: Input[List[Dataset]], identities: Output[Dataset]):
    """Join every shard's part into the `identities` dataset, byte for byte what one worker makes."""
    from components.common.stage_cache import run_cached
    from components.identity.params import IdentityParams
    from components.identity.run import run

    counts = run_cached("identity", IdentityParams.model_validate(params), run, [], identities.path,
                        parts=[p.path for p in parts])
    identities.metadata.update({"identities": counts["identities"], "rejected": counts["rejected"]})
