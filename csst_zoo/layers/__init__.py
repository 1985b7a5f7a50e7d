"""Temporal convs behind one interface: ``conv(in_channels, out_channels, stride, dilation, **args)``."""
from functools import partial

from .baselines import C2DConv, C3DConv, P3DConv
from .csst import CSSTConv, pfff, split_channels
from .pool import GlobalPool3d

# Conv families of the paper, with the arguments each one takes (and their defaults).
TEMPORAL_CONVS = {
    'c2d': (C2DConv, {}),
    'c3d': (C3DConv, {}),
    'c3dg': (C3DConv, {'groups': 2}),
    'p3d': (P3DConv, {}),
    'csst': (CSSTConv, {'alpha': 0.5, 'groups': 2}),
}


def temporal_conv_factory(conv_type: str, **conv_args):
    """Return ``make(in_channels, out_channels, stride, dilation)`` for a conv family.

    ``conv_args`` are the family's own arguments (``alpha``/``groups``); ``None`` values take
    the family's default, and an argument the family does not take is an error.
    """
    if conv_type not in TEMPORAL_CONVS:
        raise ValueError(f'conv_type must be one of {sorted(TEMPORAL_CONVS)}, got {conv_type!r}')
    conv_cls, defaults = TEMPORAL_CONVS[conv_type]
    given = {k: v for k, v in conv_args.items() if v is not None}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        takes = ', '.join(sorted(defaults)) or 'no extra arguments'
        raise ValueError(f'{", ".join(unknown)} does not apply to the {conv_type} family, which takes {takes}')
    return partial(conv_cls, **{**defaults, **given})


__all__ = [
    'C2DConv', 'C3DConv', 'P3DConv', 'CSSTConv', 'GlobalPool3d', 'pfff', 'split_channels', 'TEMPORAL_CONVS',
    'temporal_conv_factory',
]
