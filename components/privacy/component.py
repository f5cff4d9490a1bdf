"""KFP components of the privacy stage (run in its stage image, or in kfp.local): identities described
in parts, then compared with the real faces once."""
from typing import List

from kfp.dsl import Dataset, Input, Output

from components.common.kfp_inputs import stage_component
from components.privacy.params import PrivacyParams


@stage_component("privacy", PrivacyParams)
def privacy_part_op(params: PrivacyParams, shard: int, shards: int, labelled: Input[Dataset], part: Output[Dataset]):
    """One shard's part: the face descriptors of its synthetic identities."""
    from components.common.shards import Shard
    from components.common.stage_cache import run_cached
    from components.privacy.run import run

    run_cached("privacy", params, run, [labelled.path], part.path, shard=Shard(shard, shards))


@stage_component("privacy", PrivacyParams)
def privacy_merge_op(params: PrivacyParams, labelled: Input[Dataset], parts: Input[List[Dataset]], checked: Output[Dataset]):
    """Flag (and optionally drop) synthetic identities too close to real faces."""
    from components.common.stage_cache import run_cached
    from components.privacy.run import run

    counts = run_cached("privacy", params, run, [labelled.path], checked.path, parts=[p.path for p in parts])
    checked.metadata.update({k: counts[k] for k in ("flagged", "references", "dropped_identities")})
