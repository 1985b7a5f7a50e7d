"""Building blocks shared by the conv families (``csst_zoo.families``): per-frame and 3D convs, pooling."""
from .conv import C2DConv, C3DConv, check_groups, shift_time
from .pool import GlobalPool3d, spatiotemporal_mean

__all__ = ['C2DConv', 'C3DConv', 'GlobalPool3d', 'check_groups', 'shift_time', 'spatiotemporal_mean']
