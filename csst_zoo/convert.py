"""Convert the authors' released checkpoints of a family (TSM, GST, TAM) into csst-zoo checkpoints.

    csst-zoo convert tsm TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth -o tsm-r50-sthv1/
    model = csst_zoo.create_model('local-dir:tsm-r50-sthv1/')

The official models are TSN-style: a torchvision ResNet (``base_model.``) whose classifier
(``new_fc``) is applied to every frame's pooled features and averaged over the T frames. A
linear layer commutes with that average, so ``mean_t(W f_t + b) = W mean_t(f_t) + b``: the
official per-frame head equals csst-zoo's pool-over-(T, H, W)-then-linear head on the same
weights. The input is as theirs: RGB scaled to [0, 1], normalised with the ImageNet mean and std.
"""
import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import torch

from .families import FAMILIES, get_family
from .inflate import check_state_dict

__all__ = ['convert_checkpoint', 'read_official_checkpoint', 'official_state_dict']

# torchvision ResNets as TSN-style code builds them: blocks per stage -> (depth, bottleneck).
_DEPTHS = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34, ((3, 4, 6, 3), True): 50,
           ((3, 4, 23, 3), True): 101}
_COMMON_PREFIXES = ('module.', 'base_model.')


def read_official_checkpoint(path) -> Dict[str, torch.Tensor]:
    """The state dict of an official ``.pth`` / ``.pth.tar`` file (``{'state_dict': ...}`` unwrapped).

    Read with ``weights_only=True``: tensors, numbers and strings only, never code. Raises
    ValueError when the file is unreadable (truncated) or holds something other than a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {str(path)!r} does not exist')
    try:
        import numpy as np
        # Old training scripts saved numpy scalars (e.g. best_prec1) beside the weights.
        core = getattr(np, '_core', None) or np.core  # numpy 2 / numpy 1
        allowed = [core.multiarray.scalar, np.dtype, *(type(np.dtype(t)) for t in ('float64', 'float32', 'int64'))]
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(str(path), map_location='cpu', weights_only=True)
    except Exception as e:
        if 'Weights only load failed' in str(e):
            raise ValueError(f'checkpoint {str(path)!r} holds objects other than tensors and plain data, which '
                             'unpickling could run as code; it was not loaded (csst-zoo reads weights_only files: '
                             'tensors, numbers, strings)') from None
        raise ValueError(f'cannot read checkpoint {str(path)!r} (truncated, or not a PyTorch weights file?): '
                         f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}') from None
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        obj = obj['state_dict']
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ValueError(f'checkpoint {str(path)!r} holds no state dict (a mapping of tensor names to tensors, '
                         f"bare or under 'state_dict'), but a {type(obj).__name__}")
    return obj


def _strip(key: str) -> str:
    for prefix in _COMMON_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    return 'fc.' + key[len('new_fc.'):] if key.startswith('new_fc.') else key


def _family_hint(keys: Sequence[str], family) -> str:
    for other in FAMILIES.values():
        official = other.card.official
        if other is not family and official and any(re.search(official.signature, k) for k in keys):
            return f' It looks like a {other.name} checkpoint: csst-zoo convert {other.name} ...'
    return ''


def _depth(keys: Sequence[str], path) -> int:
    blocks = tuple(len({m.group(1) for k in keys if (m := re.match(rf'layer{s}\.(\d+)\.', k))}) for s in (1, 2, 3, 4))
    bottleneck = any(re.match(r'layer1\.0\.(net\.)?conv3\.', k) for k in keys)
    if (blocks, bottleneck) not in _DEPTHS:
        raise ValueError(f'checkpoint {str(path)!r} is no ResNet18/34/50/101: it has {blocks} '
                         f'{"bottleneck" if bottleneck else "basic"} blocks per stage')
    return _DEPTHS[blocks, bottleneck]


def _official_family(family_name: str):
    """The family of ``family_name``, which must have an official checkpoint layout."""
    family = get_family(family_name)
    if family.card.official is None:
        raise ValueError(f'the {family.name} family has no official checkpoint layout; families with one: '
                         f'{", ".join(n for n, f in FAMILIES.items() if f.card.official)}')
    return family


def official_state_dict(family_name: str, state_dict: Dict[str, torch.Tensor], path='checkpoint'):
    """(architecture, model arguments, {our key: (official key, tensor)}) of an official state dict."""
    family = _official_family(family_name)
    if 'cls_head.fc_cls.weight' in state_dict:
        raise ValueError(f"checkpoint {str(path)!r} is an mmaction2 recognizer, not the {family.name} authors' "
                         f'layout: csst-zoo convert mmaction2 {path}')
    stripped = {_strip(k): (k, v) for k, v in state_dict.items()}
    depth = _depth(list(stripped), path)
    arch = f'{family.name}_resnet{depth}'
    if depth not in family.depths:
        raise ValueError(f'checkpoint {str(path)!r} is a ResNet{depth}, and {family.name} models come in depths '
                         f'{", ".join(map(str, family.depths))} only.' + _family_hint(list(stripped), family))
    try:
        args = family.card.official.model_args({k: v for k, (_, v) in stripped.items()}, str(path))
    except KeyError as e:
        raise ValueError(f'checkpoint {str(path)!r} does not fit {arch}: it has no tensor {e.args[0]!r} '
                         f'(official key layout).' + _family_hint(list(stripped), family)) from None
    mapped = {}
    for key, (original, tensor) in stripped.items():
        for pattern, replacement in family.card.official.renames:
            key = re.sub(pattern, replacement, key)
        mapped[key] = (original, tensor)
    return arch, args, mapped


def convert_checkpoint(
        family_name: str,
        path,
        num_frames: Optional[int] = None,
        release: Optional[str] = None,
        **model_args,
) -> Tuple[torch.nn.Module, dict]:
    """Build the csst-zoo model of an official checkpoint and load its weights into it.

    Depth, classes and the family's arguments are read from the file (and T from its name when it
    holds one, e.g. ``segment8``); ``num_frames`` and ``model_args`` override them. ``release``
    names the authors' published checkpoint the file is (its id, for the reported accuracy in the
    model card); by default it is recognised from the file's name where that is telling. Returns
    the model (eval mode) and ``converted_from`` for its config. Raises ValueError naming the first
    tensor that cannot be placed, or the first one the model needs and the file lacks.
    """
    from .models import create_model
    releases = _official_family(family_name).card.official.releases
    if release is not None and release not in {r.id for r in releases}:
        raise ValueError(f'release must be one of {", ".join(r.id for r in releases) or "(none)"} for '
                         f'{family_name}, got {release!r}')
    state_dict = read_official_checkpoint(path)
    arch, args, mapped = official_state_dict(family_name, state_dict, path)
    if 'fc.weight' not in mapped:
        raise ValueError(f'checkpoint {str(path)!r} has no classifier (new_fc.weight or fc.weight)')
    args.update(model_args)
    if num_frames is not None:
        args['num_frames'] = num_frames
    model = create_model(arch, num_classes=mapped['fc.weight'][1].shape[0], **args)
    target = model.state_dict()
    official_keys = [k for k, _ in mapped.values()]
    converted = {}
    for key, (original, tensor) in mapped.items():
        if key not in target:
            raise ValueError(f'cannot place tensor {original!r} {tuple(tensor.shape)} of {str(path)!r} in {arch} '
                             f'(it maps to {key!r}, which the model does not have).'
                             + _family_hint(official_keys, model.family))
        want = target[key]
        if tensor.ndim == 4 and want.ndim == 5 and want.shape[2] == 1:
            tensor = tensor.unsqueeze(2)  # a torchvision 2D kernel: the per-frame 1 x k x k form
        if tensor.shape != want.shape:
            raise ValueError(f'cannot place tensor {original!r} of {str(path)!r}: it has shape '
                             f'{tuple(tensor.shape)}, {arch} needs {tuple(want.shape)} at {key!r}.'
                             + _family_hint(official_keys, model.family))
        converted[key] = tensor.to(want.dtype)
    for key, value in target.items():
        if key.endswith('num_batches_tracked') and key not in converted:
            converted[key] = value  # older torchvision checkpoints lack these counters
    check_state_dict(converted, model, what=f'checkpoint {str(path)!r}')
    model.load_state_dict(converted)
    if release is None:
        release = next((r.id for r in releases if r.pattern and re.search(r.pattern, str(path))), None)
    origin = dict(repository=model.family.card.official.repository, file=Path(path).name, release=release)
    model.pretrained_cfg['license'] = model.family.card.official.license  # the weights are the authors', not timm's
    return model.eval(), origin
