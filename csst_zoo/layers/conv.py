"""The per-frame (C2D) and full 3D convs the families build on, a shift along time, and the check of a grouped
conv's channels."""
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_positive_int
from .frames import FrameConv

__all__ = ['C2DConv', 'C3DConv', 'check_groups', 'shift_time']


def check_groups(in_channels: int, out_channels: int, groups: int, where: str) -> None:
    check_positive_int('groups', groups)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f'groups={groups} must divide both the input ({in_channels}) and output ({out_channels}) '
            f'channels of {where}; accepted: a common divisor such as 1, 2, 4 or 8')


class C2DConv(FrameConv):
    """C2D: the 2D k x k conv per frame (no temporal modelling). Params ``k^2 C_in C_out``.

    ``kernel_size=1`` gives the per-frame (1x1x1) point-wise conv of the CSST temporal branch.
    """

    def __init__(
            self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1, kernel_size: int = 3):
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation * (kernel_size // 2), dilation)


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
    """``y[:, :, t] = x[:, :, t + offset]`` for a clip ``(N, C, T, H, W)``, zeros where ``t + offset``
    falls outside the clip (``|offset| <= T``).

    One pad, cropping ``offset`` frames at one end and adding as many zeros at the other: a single
    pass, and its gradient keeps ``x``'s memory format (a slice's gradient is a new contiguous
    tensor, and adding it to a ``channels_last_3d`` gradient takes a slow strided path). An ONNX
    export writes a slice and a concatenation with zeros, which trace for a dynamic T without the
    transposes ``F.pad`` exports to."""
    if not torch.onnx.is_in_onnx_export():
        return F.pad(x, (0, 0, 0, 0, -offset, offset))
    if offset > 0:
        return torch.cat([x[:, :, offset:], torch.zeros_like(x[:, :, :offset])], dim=2)
    if offset < 0:
        return torch.cat([torch.zeros_like(x[:, :, offset:]), x[:, :, :offset]], dim=2)
    return x
