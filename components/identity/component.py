"""KFP component of the identity stage: the same code runs in the stage image on a
cluster and in `kfp.local` on this machine (lightweight component, no kfp install)."""
from typing import List

from kfp.dsl import Dataset, Input, Output

from components.common.kfp_inputs import stage_component
from components.identity.params import IdentityParams


@stage_component("identity", IdentityParams)
def identity_part_op(params: IdentityParams, shard: int, shards: int, part: Output[Dataset]):
    """One shard's identities (a contiguous run of seeds, on batch boundaries) into a part."""
    from components.common.shards import Shard
    from components.common.stage_cache import run_cached
    from components.identity.run import run

    run_cached("identity", params, run, [], part.path, shard=Shard(shard, shards))


@stage_component("identity", IdentityParams)
def identity_merge_op(params: IdentityParams, parts: Input[List[Dataset]], identities: Output[Dataset]):
    """Join every shard's part into the `identities` dataset, byte for byte what one worker makes."""
    from components.common.stage_cache import run_cached
    from components.identity.run import run

    counts = run_cached("identity", params, run, [], identities.path, parts=[p.path for p in parts])
    identities.metadata.update({"identities": counts["identities"], "rejected": counts["rejected"]})
