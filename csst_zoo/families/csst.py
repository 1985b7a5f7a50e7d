"""CSST conv: grouped spatiotemporal modelling (GSTM) and parameter-free feature fusion (PFFF).

Zhou, Ma, Yi, "CSST-Net: Channel Split Spatiotemporal Network for Human Action
Recognition", Information Technology and Control 52(4), 2023, Section 3.
"""
import torch
from torch import nn

from ..layers import C2DConv, C3DConv, spatiotemporal_mean
from ._family import Family, FamilyCard

__all__ = ['CSSTConv', 'FAMILY', 'PAPER', 'pfff', 'split_channels']

torch.fx.wrap('spatiotemporal_mean')  # see layers.pool

PAPER = ('Zhou, Ma, Yi, "CSST-Net: Channel Split Spatiotemporal Network for Human Action Recognition", '
         '*Information Technology and Control* 52(4), 2023, doi:10.5755/j01.itc.52.4.33239')


def split_channels(in_channels: int, alpha: float) -> tuple:
    """Return (temporal, spatial) input channel counts for a split ratio ``alpha`` (Eq. 2)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise ValueError(f'alpha must be a number strictly between 0 and 1, got {alpha!r}')
    temporal = alpha * in_channels
    if abs(temporal - round(temporal)) > 1e-6:
        raise ValueError(
            f'alpha={alpha} splits in_channels={in_channels} into {temporal:g} temporal channels; '
            f'alpha * in_channels must be a whole number (e.g. alpha in 0.25, 0.5, 0.75 for widths '
            f'divisible by 4)')
    temporal = int(round(temporal))
    return temporal, in_channels - temporal


def pfff(u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
    """Parameter-free feature fusion, Eqs. 4-6, as printed in the paper.

    ``S_l = mean_{T,H,W}(U_l)`` per sample and channel, ``beta = e^S2 / (e^S1 + e^S2)``,
    ``gamma = 1 - beta`` and ``Y = beta * U1 + gamma * U2``, where ``U1`` is the spatial and
    ``U2`` the temporal output. Note that beta, which weighs U1, is computed from S2:
    that is the paper's Eq. 5 verbatim.
    """
    if torch.onnx.is_in_onnx_export():
        # ONNX has no lerp (the exporter writes a Where over both of its branches). One difference
        # D = U2 - U1 serves both the means (S2 - S1 = mean(D)) and the fusion (Y = U2 - beta * D):
        # fewer nodes than two means and two products, and onnxruntime and OpenVINO pay for each
        # node they run (measured in one process against the two-product form).
        d = u2 - u1
        return u2 - torch.sigmoid(spatiotemporal_mean(d)) * d
    s1 = spatiotemporal_mean(u1)
    s2 = spatiotemporal_mean(u2)
    # e^S2 / (e^S1 + e^S2) == sigmoid(S2 - S1), without overflow for large activations.
    beta = torch.sigmoid(s2 - s1)
    # lerp(U2, U1, beta) = U2 + beta * (U1 - U2) = beta * U1 + (1 - beta) * U2: one fused pass.
    return torch.lerp(u2, u1, beta)


class CSSTConv(nn.Module):
    """Channel split spatiotemporal conv, a drop-in for a 3x3 conv of a ResNet block.

    The first ``alpha * in_channels`` input channels go to the temporal branch and the
    rest to the spatial branch, the order of the paper's Eq. 7. Spatial branch: a 1x3x3
    conv. Temporal branch (GSTM, Eq. 3): a 3x3x3 conv with ``groups`` groups plus a 1x1x1
    point-wise conv, summed. The branches are fused by PFFF. Both branches map to all
    ``out_channels`` and carry no norm of their own: the block's BatchNorm follows the
    fused output, as in the paper's parameter count.

    Parameters: ``(k^2 (1 - alpha) + k^3 alpha / groups + alpha) * in_channels * out_channels``.
    """

    def __init__(
            self,
            in_channels: int,
            out_channels: int,
            stride: int = 1,
            dilation: int = 1,
            kernel_size: int = 3,
            alpha: float = 0.5,
            groups: int = 2,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kernel_size, kernel_size)
        self.temporal_channels, self.spatial_channels = split_channels(in_channels, alpha)
        self.alpha = alpha
        self.groups = groups
        self.spatial = C2DConv(self.spatial_channels, out_channels, stride, dilation, kernel_size)
        self.temporal = C3DConv(self.temporal_channels, out_channels, stride, dilation, kernel_size, groups,
                                where='the temporal branch (alpha * in_channels)')
        self.pointwise = C2DConv(self.temporal_channels, out_channels, stride, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_temporal, x_spatial = x.split([self.temporal_channels, self.spatial_channels], dim=1)
        u1 = self.spatial(x_spatial)
        u2 = self.temporal(x_temporal).add_(self.pointwise(x_temporal))
        return pfff(u1, u2)

    def extra_repr(self) -> str:
        return f'alpha={self.alpha}, groups={self.groups}'


def inflate_csst(conv: CSSTConv, w: torch.Tensor):
    """The paper, Sec. 4.2: the spatial branch takes the slice of the 2D kernel for its own input
    channels, ``w[:, alpha * C_in:]`` (Eq. 7 order); the temporal branch keeps its random init."""
    return {'spatial.weight': w[:, conv.temporal_channels:].unsqueeze(2)}


CARD = FamilyCard(
    title='CSST-Net',
    description='every 3x3 conv of conv2-conv5 made a CSST conv: the input channels are split, a share alpha goes '
                'to a grouped 3x3x3 conv plus a point-wise conv (GSTM), the rest to a 1x3x3 conv, and the two '
                'outputs are fused without parameters (PFFF).',
    paper=PAPER,
    initialisation='in every CSST conv the spatial branch takes the 2D kernel\'s slice for its input channels and '
                   'the temporal branch (grouped 3x3x3 conv and point-wise conv) starts from random (Kaiming) '
                   'weights; every other kernel becomes its per-frame 1xkxk form.',
)

FAMILY = Family(
    name='csst',
    card=CARD,
    layer=CSSTConv,
    defaults={'alpha': 0.5, 'groups': 2},
    params=lambda c_in, c_out, k, num_frames, alpha, groups: (
        k ** 2 * (1 - alpha) + k ** 3 * alpha / groups + alpha) * c_in * c_out,
    inflate=inflate_csst,
)
