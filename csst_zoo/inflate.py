"""2D ImageNet ResNet weights -> video ResNet weights, one rule per conv family.

Rules (``w`` is the 2D kernel ``(C_out, C_in, 3, 3)`` a temporal conv replaces):

- every other conv (stem, 1x1, downsample) and C2D: ``w`` as a 1 x k x k kernel, so C2D with
  inflated weights *is* the 2D net applied per frame;
- C3D: I3D inflation (Carreira & Zisserman 2017): ``w`` repeated over the 3 temporal taps and
  divided by 3, so a static clip gives the 2D response at interior frames; C3D-g first keeps
  the block-diagonal part of ``w`` that its groups can express;
- P3D: the spatial 1x3x3 conv takes ``w``; the temporal 3x1x1 conv starts as the identity
  (centre tap = I, outer taps 0), so the network starts as the 2D net and the temporal
  taps are learned from there instead of scrambling the ImageNet features at step 0;
- CSST (the paper, Sec. 4.2): the spatial branch takes the slice of ``w`` for its own input
  channels ``w[:, alpha*C_in:]`` (Eq. 7 order); the temporal branch (grouped 3x3x3 and
  point-wise) keeps the model's random init, kaiming-normal (fan_out, relu) as timm inits convs.

BatchNorm, biases and the classifier are copied unchanged. ``inflate_state_dict`` is the
``filter_fn`` given to timm's ``load_pretrained``; it accepts timm- and torchvision-format
ResNet state dicts (the key names are the same) and passes video checkpoints through.
"""
from typing import Dict

import torch
from torch import nn
from timm.models import adapt_input_conv
from timm.models._helpers import clean_state_dict

from .layers import C3DConv, CSSTConv, P3DConv

__all__ = ['inflate_conv_weight', 'inflate_state_dict', 'is_video_state_dict', 'check_state_dict']


def _c3d_weight(conv: C3DConv, w: torch.Tensor) -> torch.Tensor:
    g = conv.groups
    out_ch, in_ch = w.shape[:2]
    # Keep the block-diagonal part: output group j sees input group j only.
    w = w.reshape(g, out_ch // g, g, in_ch // g, *w.shape[2:])
    w = torch.stack([w[j, :, j] for j in range(g)]).reshape(out_ch, in_ch // g, *w.shape[-2:])
    taps = conv.kernel_size[0]
    return w.unsqueeze(2).repeat(1, 1, taps, 1, 1) / taps


def _p3d_weights(conv: P3DConv, w: torch.Tensor) -> Dict[str, torch.Tensor]:
    temporal = torch.zeros_like(conv.temporal.weight)
    temporal[:, :, conv.temporal.kernel_size[0] // 2, 0, 0] = torch.eye(temporal.shape[0], dtype=temporal.dtype)
    return {'spatial.weight': w.unsqueeze(2), 'temporal.weight': temporal}


def _csst_weights(conv: CSSTConv, w: torch.Tensor) -> Dict[str, torch.Tensor]:
    return {
        'spatial.weight': w[:, conv.temporal_channels:].unsqueeze(2),
        'temporal.weight': conv.temporal.weight.detach().clone(),
        'pointwise.weight': conv.pointwise.weight.detach().clone(),
    }


def _expected_2d_shape(module: nn.Module) -> tuple:
    if isinstance(module, nn.Conv3d):
        return (module.out_channels, module.in_channels, *module.kernel_size[1:])
    if isinstance(module, P3DConv):
        return (module.spatial.out_channels, module.spatial.in_channels, 3, 3)
    return (module.spatial.out_channels, module.temporal_channels + module.spatial_channels, 3, 3)


def inflate_conv_weight(module: nn.Module, w: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Video weights of ``module`` (by parameter name relative to it) from a 2D kernel ``w``."""
    if isinstance(module, CSSTConv):
        return _csst_weights(module, w)
    if isinstance(module, P3DConv):
        return _p3d_weights(module, w)
    if isinstance(module, nn.Conv3d) and module.kernel_size[0] > 1:
        return {'weight': _c3d_weight(module, w)}
    if isinstance(module, nn.Conv3d):
        if module.groups != 1:
            raise ValueError(f'cannot inflate a grouped per-frame conv ({module})')
        return {'weight': w.unsqueeze(2)}
    raise TypeError(f'no inflation rule for {type(module).__name__}')


def _inflatable(model: nn.Module):
    """(name, module) of every conv the 2D net has one kernel for, outermost first."""
    skip = ()
    for name, module in model.named_modules():
        if skip and name.startswith(skip):
            continue
        if isinstance(module, (CSSTConv, P3DConv)):
            skip += (name + '.',)
            yield name, module
        elif isinstance(module, nn.Conv3d):
            yield name, module


def is_video_state_dict(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> bool:
    """True when the state dict's first conv is already 5-D (a video checkpoint, not a 2D one)."""
    first_conv = model.pretrained_cfg.get('first_conv', 'conv1') if hasattr(model, 'pretrained_cfg') else 'conv1'
    w = state_dict.get(f'{first_conv}.weight')
    return w is not None and w.ndim == 5


def check_state_dict(state_dict: Dict[str, torch.Tensor], model: nn.Module, skip=(), what='checkpoint') -> None:
    """Raise ValueError naming the first key (in the model's order) that is missing, of another
    shape, or unexpected. Keys starting with an entry of ``skip`` are not checked."""
    arch = getattr(model, 'pretrained_cfg', {}).get('architecture') or type(model).__name__
    skip = tuple(skip)
    target = model.state_dict()
    for key, value in target.items():
        if key.startswith(skip):
            continue
        if key not in state_dict:
            raise ValueError(f'{what} does not fit {arch}: it has no tensor {key!r} {tuple(value.shape)}')
        if tuple(state_dict[key].shape) != tuple(value.shape):
            raise ValueError(
                f'{what} does not fit {arch}: {key!r} has shape {tuple(state_dict[key].shape)}, '
                f'the model needs {tuple(value.shape)}')
    unexpected = [k for k in state_dict if k not in target and not k.startswith(skip)]
    if unexpected:
        raise ValueError(f'{what} does not fit {arch}: unexpected tensor {unexpected[0]!r} '
                         f'({len(unexpected)} unexpected in all)')


def inflate_state_dict(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Turn a 2D ResNet state dict into one for the video ``model`` (see the module docstring).

    A video state dict (5-D first conv) is returned as it is, after a fit check. The classifier
    is passed through unchecked: timm's ``load_pretrained`` drops it when ``num_classes`` differs.
    """
    state_dict = clean_state_dict(state_dict)
    cfg = getattr(model, 'pretrained_cfg', {})
    classifier = cfg.get('classifier') or 'fc'
    classifier_keys = tuple(f'{c}.' for c in ((classifier,) if isinstance(classifier, str) else classifier))
    if is_video_state_dict(state_dict, model):
        check_state_dict(state_dict, model, skip=classifier_keys)
        return state_dict

    arch = cfg.get('architecture') or type(model).__name__
    out = dict(state_dict)
    first_conv = cfg.get('first_conv', 'conv1')
    source_chans = (cfg.get('input_size') or (3,))[0]
    for name, module in _inflatable(model):
        key = f'{name}.weight'
        if key not in state_dict:
            raise ValueError(f'2D checkpoint does not fit {arch}: it has no tensor {key!r}')
        w = state_dict[key]
        if w.ndim != 4 or (name != first_conv and tuple(w.shape) != _expected_2d_shape(module)):
            raise ValueError(
                f'2D checkpoint does not fit {arch}: {key!r} has shape {tuple(w.shape)}, '
                f'the model needs a 2D kernel of shape {_expected_2d_shape(module)}')
        if name == first_conv and getattr(model, 'in_chans', source_chans) != source_chans:
            w = adapt_input_conv(model.in_chans, w, base_chans=source_chans)
        del out[key]
        out.update({f'{name}.{k}': v.to(w.dtype) for k, v in inflate_conv_weight(module, w).items()})
    # Buffers that older (e.g. torchvision) checkpoints lack take the model's own values.
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked') and key not in out:
            out[key] = value
    check_state_dict(out, model, skip=classifier_keys, what='2D checkpoint')
    return out
