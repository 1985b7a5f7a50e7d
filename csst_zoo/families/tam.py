"""TAM: Liu, Wang, Wu, Qian, Lu, "TAM: Temporal Adaptive Module for Video Recognition", ICCV 2021.

The official code (``ops/temporal_module.py``) puts a TAM after conv1-bn1-relu of every
bottleneck, i.e. on the input of its 3x3 conv; that is where it sits here too.
"""
import torch
from torch import nn

from .._checks import check_positive_int
from ..layers import C2DConv, frame_means, shift_time
from ._family import Family, FamilyCard, OfficialLayout, Release

__all__ = ['TemporalAdaptiveModule', 'TAMConv', 'FAMILY']

TEMPORAL_KERNEL = 3  # the official code's t_kernel_size: the local branch's Conv1d and the global kernel


class TemporalAdaptiveModule(nn.Module):
    """TAM on a clip ``(N, C, T, H, W)``: a location-sensitive local branch and a location-invariant
    global branch, both fed the spatial mean of each channel's T frames.

    - local: ``Conv1d(C, C/4, k) - BN - ReLU - Conv1d(C/4, C, 1) - sigmoid`` over time gives a weight
      per channel and frame, which multiplies the clip;
    - global: ``Linear(T, 2T) - BN - ReLU - Linear(2T, k) - softmax`` gives each sample's channel
      its own k-tap temporal kernel, which then convolves the weighted clip over time (zero padded).

    The global branch's first layer takes exactly T = ``num_frames`` inputs, so the module runs
    on clips of that length only.
    """

    def __init__(self, channels: int, num_frames: int, kernel_size: int = TEMPORAL_KERNEL):
        super().__init__()
        check_positive_int('num_frames', num_frames)
        if channels % 4:
            raise ValueError(f'TAM needs channels divisible by 4 (its local branch narrows to C/4), got {channels}')
        self.num_frames, self.kernel_size = num_frames, kernel_size
        self.global_branch = nn.Sequential(
            nn.Linear(num_frames, 2 * num_frames, bias=False), nn.BatchNorm1d(2 * num_frames), nn.ReLU(inplace=True),
            nn.Linear(2 * num_frames, kernel_size, bias=False), nn.Softmax(dim=-1))
        self.local_branch = nn.Sequential(
            nn.Conv1d(channels, channels // 4, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm1d(channels // 4), nn.ReLU(inplace=True),
            nn.Conv1d(channels // 4, channels, 1, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = frame_means(check_clip_length(x, self.num_frames))  # (N, C, T)
        kernel = self.global_branch(pooled.flatten(0, 1)).unflatten(0, pooled.shape[:2])[..., None, None, None]
        x = x * _channels_innermost(self.local_branch(pooled)[..., None, None])
        # The per-(sample, channel) temporal conv as a sum of shifted copies: tap j reads frame
        # t + j - k // 2 (a cross-correlation, zero padded, as the official grouped conv2d).
        taps = [_channels_innermost(kernel[:, :, j]) for j in range(self.kernel_size)]
        out = taps[0] * shift_time(x, -(self.kernel_size // 2))
        for j in range(1, self.kernel_size):
            out = torch.addcmul(out, taps[j], shift_time(x, j - self.kernel_size // 2))
        return out

    def extra_repr(self) -> str:
        return f'num_frames={self.num_frames}, kernel_size={self.kernel_size}'


def _channels_innermost(factors: torch.Tensor) -> torch.Tensor:
    """Per-channel factors ``(N, C, T or 1, 1, 1)`` stored channels-innermost, as a channels_last_3d
    clip is: a product whose small operand strides through C in the clip's innermost loop does not
    vectorise (10x slower on CPU). An ONNX export has no memory formats and needs no copy."""
    if torch.onnx.is_in_onnx_export():
        return factors
    return factors.contiguous(memory_format=torch.channels_last_3d)


def check_clip_length(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``x`` if its T (dim 2) is ``num_frames``, else a ValueError naming both lengths."""
    if x.shape[2] != num_frames:
        raise ValueError(
            f'TAM is built for clips of num_frames={num_frames} frames (its global branch takes T as features), '
            f'got a clip of T={x.shape[2]}; sample {num_frames} frames, or create the model with '
            f'num_frames={x.shape[2]}')
    return x


torch.fx.wrap('check_clip_length')  # a traced model runs the check on the real clip (see models.video_resnet)


class TAMConv(C2DConv):
    """TAM, then the per-frame conv it feeds (the bottleneck's 3x3 conv). Params: the conv's plus TAM's."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 kernel_size: int = 3, num_frames: int = 8):
        super().__init__(in_channels, out_channels, stride, dilation, kernel_size)
        self.tam = TemporalAdaptiveModule(in_channels, num_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.tam(x))


def _tam_params(c_in, c_out, k, num_frames):
    t, q, kt = num_frames, c_in // 4, TEMPORAL_KERNEL
    local = kt * c_in * q + 2 * q + q * c_in           # Conv1d(C, C/4, kt), BN(C/4), Conv1d(C/4, C, 1)
    global_ = t * 2 * t + 2 * (2 * t) + 2 * t * kt     # Linear(T, 2T), BN(2T), Linear(2T, kt)
    return k ** 2 * c_in * c_out + local + global_


def _official_args(state_dict, path: str):
    # T is the global branch's input width: G.0 is Linear(T, 2T).
    return {'num_frames': state_dict['layer1.0.tam.G.0.weight'].shape[1]}


def _release(data: str, version: int, frames: int, top1: float, top5: float) -> Release:
    views = '1 clip x centre crop at 224' if version == 1 else '2 clips x 3 crops at 256'
    return Release(f'tam-r50-sthv{version}-{frames}f', f'something-something-v{version}',
                   f'Something-Something V{version}', f'{frames} frames, {views}', top1, top5,
                   pattern=f'{data}_RGB_resnet50_tam_avg_segment{frames}_e50')


CARD = FamilyCard(
    title='TAM',
    description='a temporal adaptive module (a per-channel, per-clip temporal kernel and a per-frame channel '
                "weighting) on the input of every bottleneck's 3x3 conv, built for num_frames frames.",
    paper='Liu, Wang, Wu, Qian, Lu, "TAM: Temporal Adaptive Module for Video Recognition", ICCV 2021, '
          'arXiv:2005.06803',
    initialisation='every 2D kernel becomes its per-frame 1xkxk form; the temporal adaptive modules start from '
                   'random weights.',
    official=OfficialLayout(
        repository='liu-zhy/temporal-adaptive-module', license='apache-2.0',
        renames=((r'^(layer\d\.\d+)\.net\.', r'\1.'), (r'^(layer\d\.\d+)\.tam\.G\.', r'\1.conv2.tam.global_branch.'),
                 (r'^(layer\d\.\d+)\.tam\.L\.', r'\1.conv2.tam.local_branch.')),
        signature=r'\.tam\.[GL]\.',
        model_args=_official_args,
        releases=(_release('something', 1, 8, 46.5, 75.8), _release('something', 1, 16, 47.6, 77.7),
                  _release('somethingv2', 2, 8, 62.7, 88.0), _release('somethingv2', 2, 16, 64.6, 89.5)),
    ),
)

FAMILY = Family(
    name='tam',
    card=CARD,
    layer=TAMConv,
    slot='conv2',
    depths=(50, 101),
    fixed_num_frames=True,
    params=_tam_params,
)
