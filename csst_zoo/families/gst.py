"""GST: Luo, Yuille, "Grouped Spatial-Temporal Aggregation for Efficient Action Recognition", ICCV 2019.

CSST-Net's direct ancestor. The official code (``GST.py``) replaces each bottleneck's 3x3 conv by
two convs whose outputs are concatenated before ``bn2``.
"""
import torch
from torch import nn

from .._checks import check_positive_int
from ..layers import C2DConv, C3DConv
from ._family import Family, FamilyCard, OfficialLayout, Release, num_frames_in_name

__all__ = ['GSTConv', 'FAMILY']


class GSTConv(nn.Module):
    """Grouped spatial-temporal conv, a drop-in for a bottleneck's 3x3 conv.

    With ``beta=2`` the first half of the input channels go to a 1 x k x k (spatial) conv and the
    second half to a full k x k x k (temporal) conv; with ``beta=1`` (GST-Large) both read all
    channels. The spatial conv writes ``out - out / alpha`` channels and the temporal conv
    ``out / alpha``, concatenated in that order. Params ``(k^2 (1 - 1/alpha) + k^3 / alpha) C_in C_out / beta``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 kernel_size: int = 3, alpha: int = 4, beta: int = 2):
        super().__init__()
        check_positive_int('alpha', alpha)
        if alpha < 2 or out_channels % alpha:
            raise ValueError(f'alpha={alpha} must be at least 2 and divide the output channels ({out_channels}): '
                             f'1/alpha of them come from the temporal conv; accepted: e.g. 2, 4 or 8')
        if beta not in (1, 2) or isinstance(beta, bool) or in_channels % beta:
            raise ValueError(f'beta must be 2 (the branches split the input channels) or 1 (GST-Large, both read '
                             f'all of them), with in_channels ({in_channels}) divisible by it; got {beta!r}')
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kernel_size, kernel_size)
        self.alpha, self.beta = alpha, beta
        branch_in = in_channels // beta
        self.spatial = C2DConv(branch_in, out_channels - out_channels // alpha, stride, dilation, kernel_size)
        self.temporal = C3DConv(branch_in, out_channels // alpha, stride, dilation, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 2:
            x_spatial, x_temporal = x.chunk(2, dim=1)
        else:
            x_spatial = x_temporal = x
        return torch.cat([self.spatial(x_spatial), self.temporal(x_temporal)], dim=1)

    def extra_repr(self) -> str:
        return f'alpha={self.alpha}, beta={self.beta}'


def inflate_gst(conv: GSTConv, w: torch.Tensor):
    """As the official ``GST.resnet50``: the spatial conv takes the 2D kernel's first
    ``out - out/alpha`` outputs of its first ``in/beta`` inputs; the temporal conv starts random."""
    return {'spatial.weight': w[:conv.spatial.out_channels, :conv.spatial.in_channels].unsqueeze(2)}


def _official_args(state_dict, path: str):
    # alpha and beta from the first block's shapes: conv2 (spatial) and Tconv (temporal).
    planes = state_dict['layer1.0.conv1.weight'].shape[0]
    temporal = state_dict['layer1.0.Tconv.weight']
    return {**num_frames_in_name(path), 'alpha': planes // temporal.shape[0], 'beta': planes // temporal.shape[1]}


_V2 = ('something-something-v2', 'Something-Something V2', '1 clip x centre crop')
CARD = FamilyCard(
    title='GST',
    description="every bottleneck's 3x3 conv made a GST conv: half the channels to a 1x3x3 conv (3/4 of the "
                'outputs), half to a 3x3x3 conv (1/4 of the outputs), concatenated (beta=1, GST-Large: both '
                'convs read all channels).',
    paper='Luo, Yuille, "Grouped Spatial-Temporal Aggregation for Efficient Action Recognition", ICCV 2019, '
          'arXiv:1909.13130',
    initialisation="the 1x3x3 conv of every GST conv takes the slice of the 2D kernel the authors' code takes "
                   '(its outputs of its input half), the 3x3x3 conv starts from random (Kaiming) weights; every '
                   'other kernel becomes its per-frame 1xkxk form.',
    official=OfficialLayout(
        repository='chenxuluo/GST-video', license='mit',
        renames=((r'^(layer\d\.\d+)\.conv2\.', r'\1.conv2.spatial.'),
                 (r'^(layer\d\.\d+)\.Tconv\.', r'\1.conv2.temporal.')),
        signature=r'\.Tconv\.',
        model_args=_official_args,
        # The released files are on Google Drive under opaque names: the converter's --release picks one.
        releases=(
            Release('gst-r50-sthv2-8f', *_V2[:2], '8 frames, ' + _V2[2], 61.6),
            Release('gst-r50-sthv2-16f', *_V2[:2], '16 frames, ' + _V2[2], 62.6),
            Release('gst-large-r50-sthv1-8f', 'something-something-v1', 'Something-Something V1',
                    '8 frames, 1 clip x centre crop', 47.7),
            Release('gst-large-r50-sthv2-8f', *_V2[:2], '8 frames, ' + _V2[2], 62.0),
        ),
    ),
)

FAMILY = Family(
    name='gst',
    card=CARD,
    defaults={'alpha': 4, 'beta': 2},
    layer=GSTConv,
    depths=(50, 101),
    params=lambda c_in, c_out, k, num_frames, alpha, beta: (
        k ** 2 * (1 - 1 / alpha) + k ** 3 / alpha) * c_in * c_out / beta,
    inflate=inflate_gst,
)
