"""P3D (P3D-A / R(2+1)D cascade): a 1x3x3 spatial conv, then a 3x1x1 temporal conv."""
import torch
from torch import nn

from ..layers import C2DConv, Conv3d
from ._family import Family, FamilyCard
from .csst import PAPER

__all__ = ['P3DConv', 'FAMILY']


class P3DConv(nn.Module):
    """A 1 x k x k spatial conv, then a k x 1 x 1 temporal conv.

    Both at the block's output width and with no norm or activation between, so the pair
    is one linear operator in place of the 3x3 conv and the block's own BN/ReLU follow it.
    Params ``k^2 C_in C_out + k C_out^2`` (= ``(k^2 + k) C_in C_out`` when C_in = C_out).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1, kernel_size: int = 3):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kernel_size, kernel_size)
        self.spatial = C2DConv(in_channels, out_channels, stride, dilation, kernel_size)
        self.temporal = Conv3d(out_channels, out_channels, kernel_size=(kernel_size, 1, 1),
                               padding=(kernel_size // 2, 0, 0), bias=False)

    def forward(self, x):
        return self.temporal(self.spatial(x))


def inflate_p3d(conv: P3DConv, w: torch.Tensor):
    """The spatial conv takes ``w``; the temporal conv starts as the identity (centre tap I, outer
    taps 0), so the network starts as the 2D net and learns its temporal taps from there instead
    of scrambling the ImageNet features at step 0."""
    temporal = torch.zeros_like(conv.temporal.weight)
    temporal[:, :, conv.temporal.kernel_size[0] // 2, 0, 0] = torch.eye(temporal.shape[0], dtype=temporal.dtype)
    return {'spatial.weight': w.unsqueeze(2), 'temporal.weight': temporal}


CARD = FamilyCard(
    title='P3D',
    description='every 3x3 conv of conv2-conv5 made a 1x3x3 conv followed by a 3x1x1 conv.',
    paper=PAPER,
    initialisation='the 1x3x3 convs take the 2D kernels and the 3x1x1 convs start as the identity, so the model '
                   'starts as the ImageNet network applied per frame.',
)

FAMILY = Family(
    name='p3d',
    card=CARD,
    layer=P3DConv,
    # Table 1's (k^2 + k) C_in C_out assumes C_in = C_out, as in every bottleneck's 3x3 conv.
    params=lambda c_in, c_out, k, num_frames: k ** 2 * c_in * c_out + k * c_out ** 2,
    inflate=inflate_p3d,
)
