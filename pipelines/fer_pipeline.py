"""The fersynth pipeline. Stage parameters are passed as one dict per stage, validated
by that stage's pydantic model inside the component, with the model's defaults as the
pipeline defaults (so nothing is declared twice)."""
from kfp import dsl
from kfp.dsl import Dataset

from components.identity.component import identity_op
from components.identity.params import IdentityParams

# KFP parameter values cannot be None: unset optional fields are left out and take the model default.
IDENTITY_DEFAULTS = IdentityParams().model_dump(exclude_none=True)


@dsl.pipeline(name="fersynth", description="Synthetic facial-expression data for FER")
def fer_pipeline(identity: dict = IDENTITY_DEFAULTS) -> Dataset:
    identity_task = identity_op(params=identity)
    identity_task.set_display_name("identity generation")
    return identity_task.outputs["identities"]
