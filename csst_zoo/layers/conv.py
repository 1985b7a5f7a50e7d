"""The per-frame and full 3D convs the families build on, a shift along time, and the check of a grouped
conv's channels."""
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_positive_int

__all__ = ['C2DConv', 'C3DConv', 'check_groups', 'shift_time']


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
        frames = x.transpose(1, 2).flatten(0, 1)  # (N, C, T, H, W) -> (N T, C, H, W)
        y = F.conv2d(frames, self.weight.squeeze(2), None, self.stride[1:], self.padding[1:], self.dilation[1:])
        return y.unflatten(0, (x.shape[0], -1)).transpose(1, 2)


class C3DConv(nn.Conv3d):
    """A full k x k x k conv (time never strided), with ``groups`` groups. Params ``k^3 C_in C_out / g``.

    ``where`` names the conv in the error for groups that do not divide its channels.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 kernel_size: int = 3, groups: int = 1, where: str = None):
        check_groups(in_channels, out_channels, groups, where or f'the {kernel_size}x{kernel_size}x{kernel_size} conv')
        pad = dilation * (kernel_size // 2)
        super().__init__(
            in_channels, out_channels, kernel_size=kernel_size, stride=(1, stride, stride),
            padding=(kernel_size // 2, pad, pad), dilation=(1, dilation, dilation), groups=groups, bias=False)


def shift_time(x: torch.Tensor, offset: int) -> torch.Tensor:
    """``y[:, :, t] = x[:, :, t + offset]`` for a clip ``(N, C, T, ...)``, zeros where ``t + offset``
    falls outside the clip (``|offset| <= T``). Written as a slice and a concatenation with zeros,
    which trace to ONNX for a dynamic T without the transposes ``F.pad`` exports to."""
    if offset > 0:
        return torch.cat([x[:, :, offset:], torch.zeros_like(x[:, :, :offset])], dim=2)
    if offset < 0:
        return torch.cat([torch.zeros_like(x[:, :, offset:]), x[:, :, :offset]], dim=2)
    return x
