"""The per-frame (C2D) and full 3D convs the families build on, a shift along time, and the check of a grouped
conv's channels."""
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_positive_int
from .frames import FrameConv

__all__ = ['C2DConv', 'C3DConv', 'Conv3d', 'check_groups', 'conv3d', 'in_memory_order', 'shift_along', 'shift_time']


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


def conv3d(x: torch.Tensor, weight: torch.Tensor, bias, stride, padding, dilation, groups: int) -> torch.Tensor:
    """``F.conv3d``, run by oneDNN for an fp32 CPU clip.

    ATen's own choice sends an ungrouped fp32 conv3d of a small input (N C T H at most 20480, as
    every 3D conv of GST-R50 on one 8-frame clip) to its native kernel, 30x slower than oneDNN on
    the same input (measured for GST's 3x3x3 conv at 56x56); ``mkldnn_convolution`` is the op ATen
    runs otherwise, with the same autograd. Graph builders (ONNX export, ``torch.compile``, the JIT
    trace fvcore counts FLOPs on), autocast, other dtypes and devices take ``F.conv3d``.
    """
    if (not torch.compiler.is_compiling() and not torch.jit.is_tracing()  # first: dynamo skips the rest
            and not torch.onnx.is_in_onnx_export()
            and x.device.type == 'cpu' and x.dtype == weight.dtype == torch.float32
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and not torch.is_autocast_enabled('cpu')):
        return torch.mkldnn_convolution(x, weight, bias, padding, stride, dilation, groups)
    return F.conv3d(x, weight, bias, stride, padding, dilation, groups)


# torch.fx traces a call of it as one node: its test of the input is control flow on a traced value.
torch.fx.wrap('conv3d')


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` (same parameters, names and ONNX form) that runs ``conv3d``."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
        if self.padding_mode != 'zeros':
            return super()._conv_forward(x, weight, bias)
        return conv3d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class C3DConv(Conv3d):
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


def shift_along(x: torch.Tensor, dim: int, offset: int) -> torch.Tensor:
    """``x`` shifted by ``offset`` along ``dim`` with one pad: ``offset`` entries cropped at the
    start (at the end for a negative offset) and as many zeros added at the other end."""
    return F.pad(x, (0, 0) * (x.ndim - 1 - dim) + (-offset, offset))


def in_memory_order(x: torch.Tensor):
    """``x`` with its dims in the order of its memory (by decreasing stride), and where each of
    ``x``'s dims went: ops on that view that write contiguous results keep ``x``'s layout."""
    order = sorted(range(x.ndim), key=lambda d: -x.stride(d))
    return x.permute(order), [order.index(d) for d in range(x.ndim)]


def shift_time(x: torch.Tensor, offset: int) -> torch.Tensor:
    """``y[:, :, t] = x[:, :, t + offset]`` for a clip ``(N, C, T, H, W)``, zeros where ``t + offset``
    falls outside the clip (``|offset| <= T``).

    Eager, one pad, cropping ``offset`` frames at one end and adding as many zeros at the other:
    a single pass, and its gradient keeps ``x``'s memory format (a slice's gradient is a new
    contiguous tensor, and adding it to a ``channels_last_3d`` gradient takes a slow strided
    path). Graph builders get a slice and a concatenation with zeros: an ONNX export traces it for
    a dynamic T without the transposes ``F.pad`` exports to, and inductor fuses it into TAM's
    products, where its code for the pad ran TAM-R50 compiled in bf16 1.4x slower."""
    if not (torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()):
        return shift_along(x, 2, offset)
    if offset > 0:
        return torch.cat([x[:, :, offset:], torch.zeros_like(x[:, :, :offset])], dim=2)
    if offset < 0:
        return torch.cat([torch.zeros_like(x[:, :, offset:]), x[:, :, :offset]], dim=2)
    return x
