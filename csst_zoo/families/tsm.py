"""TSM: Lin, Gan, Han, "TSM: Temporal Shift Module for Efficient Video Understanding", ICCV 2019.

The residual-shift placement of the official code (``ops/temporal_shift.py``, ``place='blockres'``):
the input of every block's first conv is shifted along time, inside the residual branch. The
shift has no parameters, so a TSM ResNet has exactly the 2D ResNet's weights.
"""
import re

import torch

from .._checks import check_positive_int
from ..layers import C2DConv, in_memory_order, shift_along, shift_time
from ._family import Family, FamilyCard, OfficialLayout, Release, num_frames_in_name

__all__ = ['ShiftConv', 'temporal_shift', 'FAMILY']


def temporal_shift(x: torch.Tensor, fold_div: int = 8) -> torch.Tensor:
    """Shift a clip ``(N, C, T, H, W)`` along time, as TSM does.

    Of the C channels, the first ``fold = C // fold_div`` take frame t+1 (shifted towards the
    start), the next ``fold`` take frame t-1 (towards the end), and the rest stay; the frames
    shifted in from beyond the clip's ends are zeros. Written as a split and concatenations (no
    in-place writes into a zero tensor, as the official code does), so it traces to ONNX and
    compiles for any T. A split, not three slices of ``x``: the gradient of a slice is a tensor of
    ``x``'s size, and three of them summed cost more than the conv after the shift; the gradient of
    a split is one concatenation.

    Compiled, it is one choice per channel between the clip and its two shifts, which inductor
    writes as one pass in the clip's layout; its code for the concatenation of three channel
    slices of a ``channels_last_3d`` clip went through a channels-first buffer, 4x slower.
    """
    fold = x.shape[1] // fold_div
    if torch.compiler.is_compiling():
        channel = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1, 1)
        return torch.where(channel < fold, shift_along(x, 2, 1),
                           torch.where(channel < 2 * fold, shift_along(x, 2, -1), x))
    if torch.onnx.is_in_onnx_export():
        to_next, to_previous, rest = x.split([fold, fold, x.shape[1] - 2 * fold], dim=1)
        return torch.cat([shift_time(to_next, 1), shift_time(to_previous, -1), rest], dim=1)
    # Eager, in the order of x's memory, so that the pieces and their concatenation keep its
    # layout: channels_last_3d, or the frames layout (N, T, C, H, W) of clips between per-frame
    # ops on contiguous input, where a channels-first result would cost the next conv a copy back
    # into frames.
    inner, where = in_memory_order(x)
    channels, time = where[1], where[2]
    to_next, to_previous, rest = inner.split([fold, fold, x.shape[1] - 2 * fold], dim=channels)
    shifted = torch.cat([shift_along(to_next, time, 1), shift_along(to_previous, time, -1), rest], dim=channels)
    return shifted.permute(where)


torch.fx.wrap('temporal_shift')  # a traced model calls it as one node: its layout test reads strides


class ShiftConv(C2DConv):
    """A per-frame conv whose input is first shifted in time (``temporal_shift``): TSM's residual shift
    where it sits in the official code, wrapped around the block's first conv. Params: the conv's."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 kernel_size: int = 1, fold_div: int = 8):
        check_positive_int('fold_div', fold_div)
        if fold_div < 2:
            raise ValueError(f'fold_div must be at least 2 (two folds of C // fold_div channels are shifted), '
                             f'got {fold_div}')
        super().__init__(in_channels, out_channels, stride, dilation, kernel_size)
        self.fold_div = fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(temporal_shift(x, self.fold_div))

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, fold_div={self.fold_div}'


def _official_args(state_dict, path: str):
    # The released files name their shift: TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth
    found = re.search(r'shift(\d+)', str(path))
    return {**num_frames_in_name(path), **({'fold_div': int(found.group(1))} if found else {})}


def _release(depth: int, version: int, frames: int, top1: float) -> Release:
    # The README's Something-Something tables: V1 at 1 clip x centre crop, V2 at 2 clips x full resolution.
    v2 = 'v2' if version == 2 else ''
    return Release(
        f'tsm-r{depth}-sthv{version}-{frames}f', f'something-something-v{version}', f'Something-Something V{version}',
        f'{frames} frames, ' + ('2 clips x full resolution' if v2 else '1 clip x centre crop'), top1,
        pattern=f'TSM_something{v2}_RGB_resnet{depth}_shift8_blockres_avg_segment{frames}_e45')


CARD = FamilyCard(
    title='TSM',
    description="the input of every block's first conv shifted in time (1/8 of the channels from the next frame, "
                '1/8 from the previous one; every other block in ResNet101), as the residual shift of the '
                "authors' code.",
    paper='Lin, Gan, Han, "TSM: Temporal Shift Module for Efficient Video Understanding", ICCV 2019, '
          'arXiv:1811.08383',
    initialisation='every 2D kernel becomes its per-frame 1xkxk form; the shift has no weights, so the model '
                   'holds exactly the ImageNet weights.',
    official=OfficialLayout(
        repository='mit-han-lab/temporal-shift-module', license='mit',
        renames=((r'^(layer\d\.\d+\.conv1)\.net\.', r'\1.'),),
        signature=r'\.conv1\.net\.',
        model_args=_official_args,
        releases=tuple(_release(*row) for row in (
            (50, 1, 8, 45.6), (50, 1, 16, 47.2), (101, 1, 8, 46.9),
            (50, 2, 8, 61.2), (50, 2, 16, 63.1), (101, 2, 8, 63.3))),
    ),
)

FAMILY = Family(
    name='tsm',
    card=CARD,
    defaults={'fold_div': 8},
    layer=ShiftConv,
    slot='conv1',
    params=lambda c_in, c_out, k, num_frames, fold_div: k ** 2 * c_in * c_out,
    # The official make_temporal_shift: every other block when layer3 has 23 blocks or more.
    block_step=lambda layers: 2 if layers[2] >= 23 else 1,
)
