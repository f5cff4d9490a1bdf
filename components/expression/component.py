"""KFP component of the expression stage (runs in its stage image, or in kfp.local)."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.common.images import stage_image


@dsl.component(base_image=stage_image("expression"), install_kfp_package=False)
def expression_op(params: dict, identities: Input[Dataset], expressions: Output[Dataset]):
    """Put every requested expression on every identity."""
    from components.expression.params import ExpressionParams
    from components.expression.run import run
    from components.common.stage_cache import run_cached

    counts = run_cached("expression", ExpressionParams.model_validate(params), run, [identities.path],
                        expressions.path)
    expressions.metadata.update({"images": counts["images"], "rejected": counts["rejected"]})
