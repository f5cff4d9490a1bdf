"""The pipeline side of sharding: a plan of shard indices and a stage fanned out over it.

A sharded stage is `dsl.ParallelFor` over the plan, one part task per shard (each with the stage's
own resources, so on a cluster each shard gets its GPU), then one merge task that checks the parts
and writes the stage's dataset (components/common/shards.py). With one shard the same two tasks
run once each.
"""
from typing import List

from kfp import dsl

from components.common.images import stage_image
from pipelines.cluster import apply


@dsl.component(base_image=stage_image("identity"), install_kfp_package=False)
def shard_plan_op(shards: int) -> List[int]:
    """The shard indices 0..shards-1, for the sharded stages' ParallelFor."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    return list(range(shards))


def sharded_stage(part_op, merge_op, stage: str, plan, shards, params: dict, display_name: str, **inputs):
    """`stage` as `shards` part tasks and one merge task; returns the merge task (it has the dataset).

    `params` are the stage's typed inputs, {input name: pipeline input}, passed to both ops."""
    with dsl.ParallelFor(plan.output) as shard:
        part = apply(part_op(**params, shard=shard, shards=shards, **inputs), stage)
        part.set_display_name(f"{display_name} (shard)")
    merge = apply(merge_op(**params, parts=dsl.Collected(part.outputs["part"]), **inputs), stage)
    return merge.set_display_name(display_name)
