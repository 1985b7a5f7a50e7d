"""The paper's baseline temporal convs (Table 1 / Table 4), on one interface.

Each takes ``(in_channels, out_channels, stride=1, dilation=1, **family_args)`` and maps
``(N, C_in, T, H, W)`` to ``(N, C_out, T, H / stride, W / stride)``: time is never strided,
so any clip length T >= 1 runs.
"""
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .._checks import check_positive_int

__all__ = ['C2DConv', 'C3DConv', 'P3DConv', 'check_groups']


def check_groups(in_channels: int, out_channels: int, groups: int, where: str) -> None:
    check_positive_int('groups', groups)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f'groups={groups} must divide both the input ({in_channels}) and output ({out_channels}) '
            f'channels of {where}; accepted: a common divisor such as 1, 2, 4 or 8')


class C2DConv(nn.Conv3d):
    """C2D: the 2D 3x3 conv per frame (no temporal modelling). Params ``9 C_in C_out``.

    ``kernel_size=1`` gives the per-frame (1x1x1) point-wise conv of the CSST temporal branch.
    The weight is a 1xkxk Conv3d kernel, but the forward runs ``conv2d`` on the T frames folded
    into the batch. On CPU, ATen sends a batch-1 1x3x3 ``conv3d`` with few channels to its
    native kernel rather than oneDNN (a heuristic made for 2D shapes), which made the CSST
    spatial branch 3x slower than its FLOPs; as frames, every such conv takes oneDNN. The fold
    is a free view for ``channels_last_3d`` inputs and a copy for contiguous ones. An ONNX
    export keeps the 1xkxk conv3d, which onnxruntime and OpenVINO run well.
    """

    def __init__(
            self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1, kernel_size: int = 3):
        pad = dilation * (kernel_size // 2)
        super().__init__(
            in_channels, out_channels, kernel_size=(1, kernel_size, kernel_size), stride=(1, stride, stride),
            padding=(0, pad, pad), dilation=(1, dilation, dilation), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            # onnxruntime and OpenVINO run the 1xkxk conv3d natively; in the exported graph the
            # fold would only add two transposes per conv (measured: benchmarks/speed.py).
            return super().forward(x)
        frames = rearrange(x, 'n c t h w -> (n t) c h w')
        y = F.conv2d(frames, self.weight.squeeze(2), None, self.stride[1:], self.padding[1:], self.dilation[1:])
        return rearrange(y, '(n t) c h w -> n c t h w', n=x.shape[0])


class C3DConv(nn.Conv3d):
    """C3D: a full 3x3x3 conv; with ``groups > 1`` the paper's C3D-g. Params ``27 C_in C_out / g``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1, groups: int = 1):
        check_groups(in_channels, out_channels, groups, 'the 3x3x3 conv')
        super().__init__(
            in_channels, out_channels, kernel_size=3, stride=(1, stride, stride),
            padding=(1, dilation, dilation), dilation=(1, dilation, dilation), groups=groups, bias=False)


class P3DConv(nn.Module):
    """P3D (P3D-A / R(2+1)D cascade): a 1x3x3 spatial conv, then a 3x1x1 temporal conv.

    Both at the block's output width and with no norm or activation between, so the pair
    is one linear operator in place of the 3x3 conv and the block's own BN/ReLU follow it.
    Params ``9 C_in C_out + 3 C_out^2`` (= ``(k^2 + k) C_in C_out`` when C_in = C_out).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.spatial = C2DConv(in_channels, out_channels, stride, dilation)
        self.temporal = nn.Conv3d(out_channels, out_channels, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False)

    def forward(self, x):
        return self.temporal(self.spatial(x))
