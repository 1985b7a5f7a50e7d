"""2D ImageNet ResNet weights -> video ResNet weights, by the rule of each conv family.

Every conv outside a family's layers (stem, 1x1, downsample, and the block convs a family
leaves 2D) takes the 2D kernel ``w`` as a 1 x k x k kernel, so that part of the video model is
the 2D net applied per frame. A family's layer takes what its ``Family.inflate`` derives from
the kernel of the 2D conv it replaces (``csst_zoo.families``: e.g. C3D repeats ``w`` over time,
CSST's spatial branch takes its slice of ``w``); the layer's other tensors keep the model's
init (kaiming-normal for convs, as timm inits them).

BatchNorm, biases and the classifier are copied unchanged. ``inflate_state_dict`` is the
``filter_fn`` given to timm's ``load_pretrained``; it accepts timm- and torchvision-format
ResNet state dicts (the key names are the same) and passes video checkpoints through.
"""
from typing import Dict

import torch
from torch import nn
from timm.models import adapt_input_conv
from timm.models._helpers import clean_state_dict

from .families._family import per_frame_weights

__all__ = ['inflate_conv_weight', 'inflate_state_dict', 'is_video_state_dict', 'check_state_dict']


def _expected_2d_shape(module: nn.Module) -> tuple:
    return (module.out_channels, module.in_channels, *module.kernel_size[-2:])


def inflate_conv_weight(module: nn.Module, w: torch.Tensor, family=None) -> Dict[str, torch.Tensor]:
    """Video tensors of ``module`` (by name relative to it) from a 2D kernel ``w``: the family's
    rule for its layers, the per-frame rule for any other conv; the module's other tensors as they are."""
    if family is not None and isinstance(module, family.layer):
        tensors = family.inflate(module, w)
    elif isinstance(module, nn.Conv3d) and module.kernel_size[0] == 1 and module.groups == 1:
        tensors = per_frame_weights(module, w)
    else:
        raise TypeError(f'no inflation rule for {module}')
    return {**{k: v.detach() for k, v in module.state_dict().items()}, **tensors}


def _inflatable(model: nn.Module):
    """(name, module) of every conv the 2D net has one kernel for, outermost first."""
    layer = model.family.layer
    skip = ()
    for name, module in model.named_modules():
        if skip and name.startswith(skip):
            continue
        if isinstance(module, layer):
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
        for k, v in inflate_conv_weight(module, w, model.family).items():
            if f'{name}.{k}' not in out:  # a 2D bias stays the 2D bias
                out[f'{name}.{k}'] = v.to(w.dtype) if v.is_floating_point() else v
    # Buffers that older (e.g. torchvision) checkpoints lack take the model's own values.
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked') and key not in out:
            out[key] = value
    check_state_dict(out, model, skip=classifier_keys, what='2D checkpoint')
    return out
