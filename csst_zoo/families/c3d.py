"""C3D: every 3x3 conv of conv2-conv5 a full 3x3x3 conv (with ``groups`` > 1, the paper's C3D-g)."""
import torch

from ..layers import C3DConv
from ._family import Family, FamilyCard
from .csst import PAPER

__all__ = ['FAMILY', 'inflate_c3d']


def inflate_c3d(conv: C3DConv, w: torch.Tensor):
    """I3D inflation (Carreira & Zisserman 2017): ``w`` repeated over the temporal taps and divided
    by their number, so a static clip gives the 2D response at interior frames. With groups, the
    block-diagonal part of ``w`` that the groups can express is kept (output group j sees input
    group j only)."""
    g = conv.groups
    out_ch, in_ch = w.shape[:2]
    w = w.reshape(g, out_ch // g, g, in_ch // g, *w.shape[2:])
    w = torch.stack([w[j, :, j] for j in range(g)]).reshape(out_ch, in_ch // g, *w.shape[-2:])
    taps = conv.kernel_size[0]
    return {'weight': w.unsqueeze(2).repeat(1, 1, taps, 1, 1) / taps}


CARD = FamilyCard(
    title='C3D',
    description='every 3x3 conv of conv2-conv5 made a full 3x3x3 conv.',
    paper=PAPER,
    initialisation='the 3x3x3 kernels are the 2D kernels repeated over time and divided by 3 (I3D inflation); '
                   'every other kernel becomes its per-frame 1xkxk form.',
)

FAMILY = Family(
    name='c3d',
    card=CARD,
    layer=C3DConv,
    params=lambda c_in, c_out, k, num_frames: k ** 3 * c_in * c_out,
    inflate=inflate_c3d,
)
