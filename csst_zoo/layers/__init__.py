"""Building blocks shared by the conv families (``csst_zoo.families``): the per-frame conv and pooling."""
from .conv import C2DConv, check_groups, shift_time
from .pool import GlobalPool3d, spatiotemporal_mean

__all__ = ['C2DConv', 'GlobalPool3d', 'check_groups', 'shift_time', 'spatiotemporal_mean']
