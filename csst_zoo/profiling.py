"""Parameter and FLOP counts (fvcore), and the paper's efficiency metrics gamma and eta.

FLOPs are multiply-adds as fvcore counts them (one fused multiply-add = one FLOP): convs,
norms and linear layers, as the paper reports them. fvcore skips element-wise ops; handles are
registered here for the ones that stand for real work in these models and that fvcore would
count in a 2D net: the PFFF fusion (``lerp``, one multiply-add per element; ``sigmoid`` per
channel) and ``mean`` pooling (one add per input element, as fvcore counts
``adaptive_avg_pool2d``, which timm's 2D head uses where the video head uses ``mean``).
``extra_ops=True`` also counts ReLU, residual additions and max pooling (one op per element),
which neither fvcore nor the paper's figures include; ``benchmarks/flops.py --all-ops`` uses it
to measure where the paper's small constant offset can come from.
"""
import logging
import warnings
from math import prod
from typing import TYPE_CHECKING, Dict, Optional

import torch
from torch import nn

from ._checks import check_positive_int

if TYPE_CHECKING:
    import fvcore.nn

__all__ = [
    'count_params', 'params_by_block', 'conv_params_formula', 'flop_analysis', 'count_flops',
    'flops_by_module', 'relative_change', 'efficiency',
]


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def params_by_block(model: nn.Module) -> Dict[str, int]:
    """Parameters of the stem, of every residual block (``layer3.2``) and of the head."""
    out = {'stem': sum(count_params(getattr(model, n)) for n in ('conv1', 'bn1'))}
    for stage in ('layer1', 'layer2', 'layer3', 'layer4'):
        for i, block in enumerate(getattr(model, stage)):
            out[f'{stage}.{i}'] = count_params(block)
    out['head'] = count_params(model.get_classifier())
    return out


def conv_params_formula(family: str, c_in: int, c_out: int, k: int = 3, num_frames: int = 8, **args) -> float:
    """Parameters of one layer of ``family`` in place of a ``c_in -> c_out`` k x k conv, by the family's
    formula (the paper's Table 1 for its five), at the family's default arguments unless given."""
    from .families import get_family
    return get_family(family).conv_params(c_in, c_out, k, num_frames, **args)


def _fvcore():
    """fvcore's ``nn`` module, imported on first use (``import csst_zoo`` does not need it)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # fvcore's import runs torch.jit.script (deprecated)
        import fvcore.nn
        import fvcore.nn.jit_handles
    return fvcore.nn


def _per_output_element(inputs, outputs):
    return prod(_fvcore().jit_handles.get_shape(outputs[0]))


def _per_input_element(inputs, outputs):
    return prod(_fvcore().jit_handles.get_shape(inputs[0]))


_PFFF_AND_POOL_HANDLES = {
    'aten::lerp': _per_output_element,
    'aten::sigmoid': _per_output_element,
    'aten::sum': _per_input_element,  # the means of PFFF and the head (spatiotemporal_mean)
}
_EXTRA_HANDLES = {
    'aten::relu': _per_output_element,
    'aten::relu_': _per_output_element,
    'aten::add': _per_output_element,
    'aten::add_': _per_output_element,
    'aten::max_pool2d': _per_input_element,  # the stem's max pool, per frame (layers.FrameMaxPool)
}


def flop_analysis(model: nn.Module, inputs: Optional[torch.Tensor] = None, *, frames: Optional[int] = None,
                  size: int = 224, batch: int = 1, extra_ops: bool = False) -> 'fvcore.nn.FlopCountAnalysis':
    """A computed fvcore ``FlopCountAnalysis`` of ``model`` on a clip (batch, C, frames, size, size).

    ``frames`` defaults to the model's ``num_frames``. Use ``.total()``, ``.by_module()``,
    ``.by_operator()`` or ``fvcore.nn.flop_count_table`` on the result.
    """
    if inputs is None:
        frames = frames or getattr(model, 'num_frames', 8)
        for name, v in (('frames', frames), ('size', size), ('batch', batch)):
            check_positive_int(name, v)
        device = next(model.parameters()).device
        # FLOPs do not depend on the values; zeros leave the caller's random stream untouched
        # (a model card written during training must not change the run).
        inputs = torch.zeros(batch, getattr(model, 'in_chans', 3), frames, size, size, device=device)
    was_training = model.training
    model.eval()
    analysis = _fvcore().FlopCountAnalysis(model, inputs)
    analysis.set_op_handle(**_PFFF_AND_POOL_HANDLES)
    if extra_ops:
        analysis.set_op_handle(**_EXTRA_HANDLES)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings('none')
    fvcore_logger = logging.getLogger('fvcore')
    level = fvcore_logger.level
    fvcore_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # torch.jit tracing is deprecated on torch >= 2.10; fvcore still traces with it.
            warnings.simplefilter('ignore', (FutureWarning, DeprecationWarning, torch.jit.TracerWarning))
            with torch.no_grad():
                analysis.total()  # trace now, inside the silenced block; results are cached
    finally:
        fvcore_logger.setLevel(level)
        model.train(was_training)
    return analysis


def count_flops(model: nn.Module, **kwargs) -> int:
    """Multiply-adds of one forward pass; keyword arguments as ``flop_analysis``."""
    return flop_analysis(model, **kwargs).total()


def flops_by_module(model: nn.Module, depth: int = 2, **kwargs) -> Dict[str, int]:
    """Multiply-adds per module, for module names of at most ``depth`` dotted parts."""
    by_module = flop_analysis(model, **kwargs).by_module()
    return {k: v for k, v in by_module.items() if k and k.count('.') < depth}


def relative_change(value: float, base: float) -> tuple:
    """(value - base, 100 * (value - base) / base)."""
    return value - base, 100.0 * (value - base) / base


def efficiency(top1: float, base_top1: float, cost: float, base_cost: float) -> float:
    """dTop-1% / dCost%: the paper's gamma (Eq. 8, cost = FLOPs) and eta (Eq. 9, cost = params).

    Both deltas are relative to the baseline row, in percent. The paper prints gamma as a
    percentage (x100) and eta as a plain ratio.
    """
    return relative_change(top1, base_top1)[1] / relative_change(cost, base_cost)[1]
