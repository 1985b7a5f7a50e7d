"""Building blocks shared by the conv families (``csst_zoo.families``): per-frame ops, 3D convs, pooling."""
from .conv import C2DConv, C3DConv, Conv3d, check_groups, conv3d, in_memory_order, shift_along, shift_time
from .frames import FrameBatchNorm, FrameConv, FrameMaxPool, from_frames, to_frames
from .pool import GlobalPool3d, frame_means, spatiotemporal_mean

__all__ = ['C2DConv', 'C3DConv', 'Conv3d', 'FrameBatchNorm', 'FrameConv', 'FrameMaxPool', 'GlobalPool3d',
           'check_groups', 'conv3d', 'frame_means', 'from_frames', 'in_memory_order', 'shift_along', 'shift_time',
           'spatiotemporal_mean', 'to_frames']
