"""Video ResNets: timm's ResNet with a conv family (``csst_zoo.families``) in its blocks.

The stem, blocks, downsample paths, names and weight layout are timm's own; the model
runs on 5-D clips ``(N, C, T, H, W)``. Every 2D op becomes its 1xkxk 3D equivalent, which runs
as the 2D op on the clip's frames (``layers.frames``: a C2D model *is* the 2D net applied per
frame, on the 2D kernels), and the family's layer takes the place of the conv of each block
that the family names (its ``slot``): the layout of torchvision's ``VideoResNet`` where the
family is one argument.
"""
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn
from timm.models import register_model, generate_default_cfgs, get_pretrained_cfg
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from .. import mmaction2
from .._checks import check_positive_int
from ..families import FAMILIES, family_arguments, get_family
from ..layers import C2DConv, FrameBatchNorm, FrameConv, FrameMaxPool, GlobalPool3d
from ._builder import build_video_model

__all__ = ['VideoResNet']

_STAGES = ('layer1', 'layer2', 'layer3', 'layer4')


def _pool3d_from_2d(pool: nn.Module) -> nn.Module:
    k, s, p = (nn.modules.utils._pair(v) for v in (pool.kernel_size, pool.stride, pool.padding))
    if isinstance(pool, nn.MaxPool2d):
        return FrameMaxPool(k, s, p, ceil_mode=pool.ceil_mode)
    return nn.AvgPool3d((1, *k), (1, *s), (0, *p), ceil_mode=pool.ceil_mode,
                        count_include_pad=pool.count_include_pad)


def _place_family(model: ResNet, family, family_args: Dict[str, Any], layers, num_frames: int) -> None:
    """Build the family's layer in place of the convs of its slot, in every ``block_step``-th block."""
    step = family.block_step(layers)
    for stage in _STAGES:
        for i, block in enumerate(getattr(model, stage)):
            if i % step:
                continue
            for name in family.slot_names(block):
                setattr(block, name, family.build(getattr(block, name), num_frames, family_args))


def _make_video(module: nn.Module, in_stage: bool = False) -> None:
    """Replace, in place, every remaining 2D op by its per-frame 3D form."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            if child.groups != 1:
                raise ValueError('grouped convs (ResNeXt cardinality > 1) are not supported')
            if in_stage and child.kernel_size == (3, 3):  # the block convs a family left 2D
                new = C2DConv(child.in_channels, child.out_channels, child.stride[0], child.dilation[0])
            else:
                new = FrameConv.from_2d(child)
        elif isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
            new = _pool3d_from_2d(child)
        else:
            _make_video(child, in_stage or name in _STAGES)
            continue
        setattr(module, name, new)


def recording_autograd() -> bool:
    """Whether ops now are recorded for a backward pass (training), where in-place ops on the clips'
    views are slow.

    The per-frame ops return their clips as views of the frames they computed (``layers.frames``),
    and an in-place op on a view makes autograd copy the whole tensor it views in the backward
    pass (CopySlices), then run the op's backward on mismatched strides: in-place residual adds and
    activations made a C2D-R50 training step on the CPU twice as slow as timm's ResNet50 on the
    same frames. Without autograd (inference), in place is the faster way, as in timm."""
    return torch.is_grad_enabled()


class VideoReLU(nn.ReLU):
    """ReLU, in place (as timm builds it) only where autograd does not record (``recording_autograd``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x, inplace=self.inplace and not recording_autograd())


class _VideoResidual:
    """The end of timm's residual block, its add in place only where autograd does not record."""

    def _add_residual(self, x: torch.Tensor, shortcut: torch.Tensor, act: nn.Module) -> torch.Tensor:
        if self.se is not None:
            x = self.se(x)
        if self.drop_path is not None:
            x = self.drop_path(x)
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return act(x + shortcut if recording_autograd() else x.add_(shortcut))


class VideoBasicBlock(_VideoResidual, BasicBlock):
    """timm's ``BasicBlock`` for clips (see ``recording_autograd``); its modules and names are timm's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.aa(self.act1(self.drop_block(self.bn1(self.conv1(x)))))
        return self._add_residual(self.bn2(self.conv2(x)), shortcut, self.act2)


class VideoBottleneck(_VideoResidual, Bottleneck):
    """timm's ``Bottleneck`` for clips (see ``recording_autograd``); its modules and names are timm's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.aa(self.act2(self.drop_block(self.bn2(self.conv2(x)))))
        return self._add_residual(self.bn3(self.conv3(x)), shortcut, self.act3)


class VideoResNet(ResNet):
    """A timm ResNet for clips ``(N, C, T, H, W)``, with a conv family in its blocks.

    Args:
        block, layers: as timm's ``ResNet`` (``VideoBasicBlock``/``VideoBottleneck``, timm's blocks for
            clips, and blocks per stage).
        family: the conv family, a key of ``csst_zoo.FAMILIES`` (``'csst'``, ``'c2d'``, ``'tsm'``, ...).
        num_frames: the clip length the model is configured for (``pretrained_cfg['input_size']``).
            The network reads T from its input, so other lengths run too, except for families
            built for one length (TAM), whose clips must have exactly ``num_frames`` frames.
        num_classes, in_chans, global_pool ('avg', 'max' or ''), drop_rate and any other timm
            ``ResNet`` argument that builds convs, pools and norms only.
        **kwargs: also the family's own arguments (``alpha``/``groups`` for CSST, ``groups`` for
            C3D-g, ``alpha``/``beta`` for GST, ``fold_div`` for TSM; ``model.family_args`` holds
            them with their defaults filled in).
    """

    def __init__(
            self,
            block,
            layers,
            family: str = 'csst',
            num_frames: int = 8,
            num_classes: int = 1000,
            in_chans: int = 3,
            global_pool: str = 'avg',
            zero_init_last: bool = True,
            **kwargs,
    ):
        check_positive_int('num_frames', num_frames)
        check_positive_int('in_chans', in_chans)
        family = get_family(family)
        names = family_arguments()
        family_args = family.resolve_args({k: kwargs.pop(k) for k in list(kwargs) if k in names})
        kwargs.setdefault('act_layer', VideoReLU)
        super().__init__(
            block, layers, num_classes=num_classes, in_chans=in_chans, norm_layer=FrameBatchNorm,
            zero_init_last=zero_init_last, **kwargs)
        self.family, self.family_args = family, family_args
        # The family's layers and the per-frame forms are made where timm made the 2D net (device=,
        # dtype=, as timm's factory passes them): on the meta device, nothing is allocated.
        with torch.device(kwargs.get('device') or next(self.parameters()).device):
            _place_family(self, family, family_args, layers, num_frames)
            _make_video(self)
            self.reset_classifier(num_classes, global_pool)
        if kwargs.get('dtype') is not None:
            self.to(dtype=kwargs['dtype'])
        leftover = [n for n, m in self.named_modules() if type(m).__name__.endswith('2d')]
        if leftover:
            raise ValueError(f'these 2D modules have no video form here: {", ".join(leftover)}')
        self.num_frames = num_frames
        self.init_weights(zero_init_last=zero_init_last)

    @property
    def fixed_num_frames(self) -> Optional[int]:
        """The only clip length the model takes, or None when it takes any T."""
        return self.num_frames if self.family.fixed_num_frames else None

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
        weight = next(self.parameters())
        self.num_classes = num_classes
        self.global_pool = GlobalPool3d(global_pool, flatten=True)
        self.fc = nn.Linear(self.num_features, num_classes, device=weight.device, dtype=weight.dtype) \
            if num_classes else nn.Identity()
        self.head_hidden_size = self.num_features
        self.global_pool.train(self.training)
        self.fc.train(self.training)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward_features(check_clip(x, self.in_chans))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        # timm lets a classifier follow no pooling (reset_classifier(5, '')), for maps whose last
        # dim is the channels; a clip's are (N, C, T, h, w), which a classifier cannot read.
        if not (pre_logits or self.global_pool.pool_type or isinstance(self.fc, nn.Identity)):
            raise ValueError("the classifier needs pooled features: reset_classifier(num_classes, 'avg'), or "
                             "reset_classifier(0, '') for the unpooled feature map")
        return super().forward_head(x, pre_logits)


def check_clip(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    """``x`` if it is a clip ``(N, in_chans, T, H, W)``, else a ValueError saying what is wrong."""
    if x.ndim != 5:
        raise ValueError(
            f'input must be a 5-D clip (N, C, T, H, W), got a {x.ndim}-D tensor of shape {tuple(x.shape)}')
    if x.shape[1] != in_chans:
        hint = ''
        if x.shape[2] == in_chans:
            hint = ' (it looks like (N, T, C, H, W): use x.permute(0, 2, 1, 3, 4))'
        raise ValueError(
            f'input has {x.shape[1]} channels in dim 1 of shape {tuple(x.shape)}, the model takes '
            f'in_chans={in_chans} in layout (N, C, T, H, W){hint}')
    return x


# torch.fx (torchvision's create_feature_extractor, timm's feature_cls='fx') records the check as
# one call that runs on the real input, so a traced model keeps the eager errors.
torch.fx.wrap('check_clip')


def _cfg(source: str, family):
    """Cfg of a video model whose pretrained weights are timm's 2D ``source`` weights, inflated."""
    src = get_pretrained_cfg(source)
    return dict(
        hf_hub_id=src.hf_hub_id, url=src.url, num_classes=src.num_classes,
        input_size=(3, 8, 224, 224), pool_size=(8, 7, 7), crop_pct=src.crop_pct,
        interpolation=src.interpolation, mean=src.mean, std=src.std,
        first_conv='conv1', classifier='fc', license=src.license, paper_name=family.card.paper,
        notes=(f'ImageNet weights of timm {source}, inflated to video by csst_zoo.inflate',))


_DEPTHS = {
    18: (dict(block=VideoBasicBlock, layers=(2, 2, 2, 2)), 'resnet18.tv_in1k'),
    34: (dict(block=VideoBasicBlock, layers=(3, 4, 6, 3)), 'resnet34.tv_in1k'),
    50: (dict(block=VideoBottleneck, layers=(3, 4, 6, 3)), 'resnet50.tv_in1k'),
    101: (dict(block=VideoBottleneck, layers=(3, 4, 23, 3)), 'resnet101.tv_in1k'),
}
default_cfgs = generate_default_cfgs({
    **{f'{name}_resnet{depth}.tv_in1k': _cfg(_DEPTHS[depth][1], family)
       for name, family in FAMILIES.items() for depth in family.depths},
    # video-trained weights by name: mmaction2's released recognizers (csst_zoo.mmaction2)
    **{name: dict(cfg, paper_name=FAMILIES[name.split('_')[0]].card.paper)
       for name, cfg in mmaction2.pretrained_cfgs().items()},
})


def _create(variant: str, family: str, depth: int, pretrained: bool, **kwargs) -> VideoResNet:
    return build_video_model(VideoResNet, variant, pretrained, **dict(_DEPTHS[depth][0], family=family, **kwargs))


# One entry point per family and depth, as timm writes them (tests/test_models.py checks that they
# and FAMILIES agree).
@register_model
def c2d_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D on ResNet18 (csst_zoo.families.c2d)."""
    return _create('c2d_resnet18', 'c2d', 18, pretrained, **kwargs)


@register_model
def c2d_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D on ResNet34 (csst_zoo.families.c2d)."""
    return _create('c2d_resnet34', 'c2d', 34, pretrained, **kwargs)


@register_model
def c2d_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D on ResNet50 (csst_zoo.families.c2d)."""
    return _create('c2d_resnet50', 'c2d', 50, pretrained, **kwargs)


@register_model
def c2d_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C2D on ResNet101 (csst_zoo.families.c2d)."""
    return _create('c2d_resnet101', 'c2d', 101, pretrained, **kwargs)


@register_model
def c3d_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D on ResNet18 (csst_zoo.families.c3d)."""
    return _create('c3d_resnet18', 'c3d', 18, pretrained, **kwargs)


@register_model
def c3d_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D on ResNet34 (csst_zoo.families.c3d)."""
    return _create('c3d_resnet34', 'c3d', 34, pretrained, **kwargs)


@register_model
def c3d_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D on ResNet50 (csst_zoo.families.c3d)."""
    return _create('c3d_resnet50', 'c3d', 50, pretrained, **kwargs)


@register_model
def c3d_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D on ResNet101 (csst_zoo.families.c3d)."""
    return _create('c3d_resnet101', 'c3d', 101, pretrained, **kwargs)


@register_model
def c3dg_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g on ResNet18 (csst_zoo.families.c3dg)."""
    return _create('c3dg_resnet18', 'c3dg', 18, pretrained, **kwargs)


@register_model
def c3dg_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g on ResNet34 (csst_zoo.families.c3dg)."""
    return _create('c3dg_resnet34', 'c3dg', 34, pretrained, **kwargs)


@register_model
def c3dg_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g on ResNet50 (csst_zoo.families.c3dg)."""
    return _create('c3dg_resnet50', 'c3dg', 50, pretrained, **kwargs)


@register_model
def c3dg_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """C3D-g on ResNet101 (csst_zoo.families.c3dg)."""
    return _create('c3dg_resnet101', 'c3dg', 101, pretrained, **kwargs)


@register_model
def p3d_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D on ResNet18 (csst_zoo.families.p3d)."""
    return _create('p3d_resnet18', 'p3d', 18, pretrained, **kwargs)


@register_model
def p3d_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D on ResNet34 (csst_zoo.families.p3d)."""
    return _create('p3d_resnet34', 'p3d', 34, pretrained, **kwargs)


@register_model
def p3d_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D on ResNet50 (csst_zoo.families.p3d)."""
    return _create('p3d_resnet50', 'p3d', 50, pretrained, **kwargs)


@register_model
def p3d_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """P3D on ResNet101 (csst_zoo.families.p3d)."""
    return _create('p3d_resnet101', 'p3d', 101, pretrained, **kwargs)


@register_model
def csst_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-Net on ResNet18 (csst_zoo.families.csst)."""
    return _create('csst_resnet18', 'csst', 18, pretrained, **kwargs)


@register_model
def csst_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-Net on ResNet34 (csst_zoo.families.csst)."""
    return _create('csst_resnet34', 'csst', 34, pretrained, **kwargs)


@register_model
def csst_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-Net on ResNet50 (csst_zoo.families.csst)."""
    return _create('csst_resnet50', 'csst', 50, pretrained, **kwargs)


@register_model
def csst_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """CSST-Net on ResNet101 (csst_zoo.families.csst)."""
    return _create('csst_resnet101', 'csst', 101, pretrained, **kwargs)


@register_model
def tsm_resnet18(pretrained: bool = False, **kwargs) -> VideoResNet:
    """TSM on ResNet18 (csst_zoo.families.tsm)."""
    return _create('tsm_resnet18', 'tsm', 18, pretrained, **kwargs)


@register_model
def tsm_resnet34(pretrained: bool = False, **kwargs) -> VideoResNet:
    """TSM on ResNet34 (csst_zoo.families.tsm)."""
    return _create('tsm_resnet34', 'tsm', 34, pretrained, **kwargs)


@register_model
def tsm_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """TSM on ResNet50 (csst_zoo.families.tsm)."""
    return _create('tsm_resnet50', 'tsm', 50, pretrained, **kwargs)


@register_model
def tsm_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """TSM on ResNet101 (csst_zoo.families.tsm)."""
    return _create('tsm_resnet101', 'tsm', 101, pretrained, **kwargs)


@register_model
def gst_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """GST on ResNet50 (csst_zoo.families.gst)."""
    return _create('gst_resnet50', 'gst', 50, pretrained, **kwargs)


@register_model
def gst_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """GST on ResNet101 (csst_zoo.families.gst)."""
    return _create('gst_resnet101', 'gst', 101, pretrained, **kwargs)


@register_model
def tam_resnet50(pretrained: bool = False, **kwargs) -> VideoResNet:
    """TAM on ResNet50 (csst_zoo.families.tam)."""
    return _create('tam_resnet50', 'tam', 50, pretrained, **kwargs)


@register_model
def tam_resnet101(pretrained: bool = False, **kwargs) -> VideoResNet:
    """TAM on ResNet101 (csst_zoo.families.tam)."""
    return _create('tam_resnet101', 'tam', 101, pretrained, **kwargs)
