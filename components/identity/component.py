"""KFP component of the identity stage: the same code runs in the stage image on a
cluster and in `kfp.local` on this machine (lightweight component, no kfp install)."""
from kfp import dsl
from kfp.dsl import Dataset, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("identity"), install_kfp_package=False)
def identity_op(params: dict, identities: Output[Dataset]):
    """Generate identities into the `identities` dataset artifact (a directory)."""
    from components.identity.params import IdentityParams
    from components.identity.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("identity", IdentityParams.model_validate(params), run, [], identities.path)
    identities.metadata.update({"identities": counts["identities"], "rejected": counts["rejected"]})
