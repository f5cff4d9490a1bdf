"""KFP component of the privacy stage (runs in its stage image, or in kfp.local)."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("privacy"), install_kfp_package=False)
def privacy_op(params: dict, labelled: Input[Dataset], checked: Output[Dataset]):
    """Flag (and optionally drop) synthetic identities too close to real faces."""
    from components.common.stage_cache import run_cached
    from components.privacy.params import PrivacyParams
    from components.privacy.run import run

    counts = run_cached("privacy", PrivacyParams.model_validate(params), run, [labelled.path], checked.path)
    checked.metadata.update({k: counts[k] for k in ("flagged", "references", "dropped_identities")})
