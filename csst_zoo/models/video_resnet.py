"""Video ResNets: timm's ResNet with every 3x3 conv of layer1..layer4 made temporal.

The stem, blocks, downsample paths, names and weight layout are timm's own; the model
runs on 5-D clips ``(N, C, T, H, W)``. Every 2D op becomes its 1xkxk 3D equivalent
(so a C2D model *is* the 2D net applied per frame) and each 3x3 conv inside the four
stages is replaced by the chosen family's temporal conv (``csst_zoo.layers``), the
layout of torchvision's ``VideoResNet`` where the conv family is one argument.
"""
from typing import Optional

import torch
from torch import nn
from timm.models import register_model, generate_default_cfgs, get_pretrained_cfg
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from .._checks import check_positive_int
from ..layers import GlobalPool3d, temporal_conv_factory
from ._builder import build_video_model

__all__ = ['VideoResNet']

_STAGES = ('layer1', 'layer2', 'layer3', 'layer4')


def _conv3d_from_2d(conv: nn.Conv2d) -> nn.Conv3d:
    """The per-frame (1 x kh x kw) Conv3d equivalent of a Conv2d."""
    return nn.Conv3d(
        conv.in_channels, conv.out_channels, kernel_size=(1, *conv.kernel_size), stride=(1, *conv.stride),
        padding=(0, *conv.padding), dilation=(1, *conv.dilation), groups=conv.groups,
        bias=conv.bias is not None)


def _pool3d_from_2d(pool: nn.Module) -> nn.Module:
    k, s, p = (nn.modules.utils._pair(v) for v in (pool.kernel_size, pool.stride, pool.padding))
    if isinstance(pool, nn.MaxPool2d):
        return nn.MaxPool3d((1, *k), (1, *s), (0, *p), ceil_mode=pool.ceil_mode)
    return nn.AvgPool3d((1, *k), (1, *s), (0, *p), ceil_mode=pool.ceil_mode,
                        count_include_pad=pool.count_include_pad)


def _make_video(module: nn.Module, make_temporal_conv, in_stage: bool = False) -> None:
    """Replace, in place, every 2D op by its per-frame 3D form and stage 3x3 convs by temporal convs."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            if in_stage and child.kernel_size == (3, 3):
                if child.groups != 1:
                    raise ValueError('grouped 3x3 block convs (ResNeXt cardinality > 1) are not supported')
                new = make_temporal_conv(
                    child.in_channels, child.out_channels, stride=child.stride[0], dilation=child.dilation[0])
            else:
                new = _conv3d_from_2d(child)
        elif isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
            new = _pool3d_from_2d(child)
        else:
            _make_video(child, make_temporal_conv, in_stage or name in _STAGES)
            continue
        setattr(module, name, new)


class VideoResNet(ResNet):
    """A timm ResNet for clips ``(N, C, T, H, W)``, with a temporal conv family in its blocks.

    Args:
        block, layers: as timm's ``ResNet`` (``BasicBlock``/``Bottleneck`` and blocks per stage).
        conv_type: the paper's conv family: ``'c2d'``, ``'c3d'``, ``'c3dg'``, ``'p3d'`` or ``'csst'``.
        alpha: temporal share of the input channels (CSST only, default 0.5).
        groups: groups of the 3x3x3 conv (CSST and C3D-g only, default 2).
        num_frames: the clip length the model is configured for (``pretrained_cfg['input_size']``);
            the network itself reads T from its input, so other lengths run too.
        num_classes, in_chans, global_pool ('avg', 'max' or ''), drop_rate and any other timm
            ``ResNet`` argument that builds convs, pools and norms only.
    """

    def __init__(
            self,
            block,
            layers,
            conv_type: str = 'csst',
            alpha: Optional[float] = None,
            groups: Optional[int] = None,
            num_frames: int = 8,
            num_classes: int = 1000,
            in_chans: int = 3,
            global_pool: str = 'avg',
            zero_init_last: bool = True,
            **kwargs,
    ):
        check_positive_int('num_frames', num_frames)
        check_positive_int('in_chans', in_chans)
        make_temporal_conv = temporal_conv_factory(conv_type, alpha=alpha, groups=groups)
        super().__init__(
            block, layers, num_classes=num_classes, in_chans=in_chans, norm_layer=nn.BatchNorm3d,
            zero_init_last=zero_init_last, **kwargs)
        _make_video(self, make_temporal_conv)
        self.reset_classifier(num_classes, global_pool)
        leftover = [n for n, m in self.named_modules() if type(m).__name__.endswith('2d')]
        if leftover:
            raise ValueError(f'these 2D modules have no video form here: {", ".join(leftover)}')
        self.conv_type = conv_type
        self.conv_args = dict(make_temporal_conv.keywords)  # the family's arguments, defaults filled in
        self.num_frames = num_frames
        self.init_weights(zero_init_last=zero_init_last)

    @torch.jit.ignore
    def init_weights(self, zero_init_last: bool = True) -> None:
        # timm's ResNet init, for the 3D convs (it runs first from ResNet.__init__ on the 2D ones,
        # which _make_video then replaces).
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        if zero_init_last:
            for m in self.modules():
                if hasattr(m, 'zero_init_last'):
                    m.zero_init_last()

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        if global_pool is None:
            global_pool = self.global_pool.pool_type
        if num_classes and not global_pool:
            raise ValueError('global_pool can only be disabled (\'\') when the classifier is removed (num_classes=0)')
        weight = next(self.parameters())
        self.num_classes = num_classes
        self.global_pool = GlobalPool3d(global_pool, flatten=True)
        self.fc = nn.Linear(self.num_features, num_classes, device=weight.device, dtype=weight.dtype) \
            if num_classes else nn.Identity()
        self.head_hidden_size = self.num_features
        self.fc.train(self.training)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is a clip ``(N, in_chans, T, H, W)``."""
        if x.ndim != 5:
            raise ValueError(
                f'input must be a 5-D clip (N, C, T, H, W), got a {x.ndim}-D tensor of shape {tuple(x.shape)}')
        if x.shape[1] != self.in_chans:
            hint = ''
            if x.shape[2] == self.in_chans:
                hint = ' (it looks like (N, T, C, H, W): use x.permute(0, 2, 1, 3, 4))'
            raise ValueError(
                f'input has {x.shape[1]} channels in dim 1 of shape {tuple(x.shape)}, the model takes '
                f'in_chans={self.in_chans} in layout (N, C, T, H, W){hint}')

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return super().forward_features(x)


def _cfg(source: str, **kwargs):
    """Cfg of a video model whose pretrained weights are timm's 2D ``source`` weights, inflated."""
    src = get_pretrained_cfg(source)
    return dict(
        hf_hub_id=src.hf_hub_id, url=src.url, num_classes=src.num_classes,
        input_size=(3, 8, 224, 224), pool_size=(8, 7, 7), crop_pct=src.crop_pct,
        interpolation=src.interpolation, mean=src.mean, std=src.std,
        first_conv='conv1', classifier='fc', license=src.license,
        paper_name='CSST-Net: Channel Split Spatiotemporal Network for Human Action Recognition',
        paper_ids='doi:10.5755/j01.itc.52.4.33239',
        notes=(f'ImageNet weights of timm {source}, inflated to video by csst_zoo.inflate',),
        **kwargs)


_SOURCES = {18: 'resnet18.tv_in1k', 34: 'resnet34.tv_in1k', 50: 'resnet50.tv_in1k', 101: 'resnet101.tv_in1k'}
default_cfgs = generate_default_cfgs({
    f'{family}_resnet{depth}.tv_in1k': _cfg(source)
    for family in ('c2d', 'c3d', 'c3dg', 'p3d', 'csst') for depth, source in _SOURCES.items()
})


def _create_video_resnet(variant: str, pretrained: bool = False, **kwargs) -> VideoResNet:
    return build_video_model(VideoResNet, variant, pretrained, **kwargs)


_R18 = dict(block=BasicBlock, layers=(2, 2, 2, 2))
_R34 = dict(block=BasicBlock, layers=(3, 4, 6, 3))
_R50 = dict(block=Bottleneck, layers=(3, 4, 6, 3))
_R101 = dict(block=Bottleneck, layers=(3, 4, 23, 3))


@register_model
def csst_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-ResNet18: CSST conv (GSTM + PFFF) in place of both 3x3 convs of every basic block."""
    return _create_video_resnet('csst_resnet18', pretrained, **dict(_R18, conv_type='csst', **kwargs))


@register_model
def csst_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-ResNet34: CSST conv (GSTM + PFFF) in place of both 3x3 convs of every basic block."""
    return _create_video_resnet('csst_resnet34', pretrained, **dict(_R34, conv_type='csst', **kwargs))


@register_model
def csst_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-ResNet50: CSST conv (GSTM + PFFF) in place of the 3x3 conv of every bottleneck."""
    return _create_video_resnet('csst_resnet50', pretrained, **dict(_R50, conv_type='csst', **kwargs))


@register_model
def csst_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-ResNet101: CSST conv (GSTM + PFFF) in place of the 3x3 conv of every bottleneck."""
    return _create_video_resnet('csst_resnet101', pretrained, **dict(_R101, conv_type='csst', **kwargs))


@register_model
def c2d_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D-ResNet18: the 2D ResNet18 applied per frame (no temporal modelling), averaged over time."""
    return _create_video_resnet('c2d_resnet18', pretrained, **dict(_R18, conv_type='c2d', **kwargs))


@register_model
def c2d_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D-ResNet34: the 2D ResNet34 applied per frame (no temporal modelling), averaged over time."""
    return _create_video_resnet('c2d_resnet34', pretrained, **dict(_R34, conv_type='c2d', **kwargs))


@register_model
def c2d_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D-ResNet50: the 2D ResNet50 applied per frame (no temporal modelling), averaged over time."""
    return _create_video_resnet('c2d_resnet50', pretrained, **dict(_R50, conv_type='c2d', **kwargs))


@register_model
def c2d_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D-ResNet101: the 2D ResNet101 applied per frame (no temporal modelling), averaged over time."""
    return _create_video_resnet('c2d_resnet101', pretrained, **dict(_R101, conv_type='c2d', **kwargs))


@register_model
def c3d_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-ResNet18: full 3x3x3 convs in place of the 3x3 convs of every basic block."""
    return _create_video_resnet('c3d_resnet18', pretrained, **dict(_R18, conv_type='c3d', **kwargs))


@register_model
def c3d_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-ResNet34: full 3x3x3 convs in place of the 3x3 convs of every basic block."""
    return _create_video_resnet('c3d_resnet34', pretrained, **dict(_R34, conv_type='c3d', **kwargs))


@register_model
def c3d_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-ResNet50: a full 3x3x3 conv in place of the 3x3 conv of every bottleneck."""
    return _create_video_resnet('c3d_resnet50', pretrained, **dict(_R50, conv_type='c3d', **kwargs))


@register_model
def c3d_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-ResNet101: a full 3x3x3 conv in place of the 3x3 conv of every bottleneck."""
    return _create_video_resnet('c3d_resnet101', pretrained, **dict(_R101, conv_type='c3d', **kwargs))


@register_model
def c3dg_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g-ResNet18: 3x3x3 convs with ``groups`` groups (default 2) in every basic block."""
    return _create_video_resnet('c3dg_resnet18', pretrained, **dict(_R18, conv_type='c3dg', **kwargs))


@register_model
def c3dg_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g-ResNet34: 3x3x3 convs with ``groups`` groups (default 2) in every basic block."""
    return _create_video_resnet('c3dg_resnet34', pretrained, **dict(_R34, conv_type='c3dg', **kwargs))


@register_model
def c3dg_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g-ResNet50: a 3x3x3 conv with ``groups`` groups (default 2) in every bottleneck."""
    return _create_video_resnet('c3dg_resnet50', pretrained, **dict(_R50, conv_type='c3dg', **kwargs))


@register_model
def c3dg_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g-ResNet101: a 3x3x3 conv with ``groups`` groups (default 2) in every bottleneck."""
    return _create_video_resnet('c3dg_resnet101', pretrained, **dict(_R101, conv_type='c3dg', **kwargs))


@register_model
def p3d_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D-ResNet18: 1x3x3 then 3x1x1 convs (cascaded) in place of the basic blocks' 3x3 convs."""
    return _create_video_resnet('p3d_resnet18', pretrained, **dict(_R18, conv_type='p3d', **kwargs))


@register_model
def p3d_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D-ResNet34: 1x3x3 then 3x1x1 convs (cascaded) in place of the basic blocks' 3x3 convs."""
    return _create_video_resnet('p3d_resnet34', pretrained, **dict(_R34, conv_type='p3d', **kwargs))


@register_model
def p3d_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D-ResNet50: a 1x3x3 then a 3x1x1 conv (cascaded) in place of each bottleneck's 3x3 conv."""
    return _create_video_resnet('p3d_resnet50', pretrained, **dict(_R50, conv_type='p3d', **kwargs))


@register_model
def p3d_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D-ResNet101: a 1x3x3 then a 3x1x1 conv (cascaded) in place of each bottleneck's 3x3 conv."""
    return _create_video_resnet('p3d_resnet101', pretrained, **dict(_R101, conv_type='p3d', **kwargs))
