"""``create_model`` / ``list_models`` / ``is_model`` over timm's registry, limited to csst-zoo's models."""
import difflib
from typing import List, Optional

import timm
from timm.models import parse_model_name, split_model_name_tag

from . import video_resnet
from ._builder import load_checkpoint
from ._hub import resolve_checkpoint

__all__ = ['create_model', 'is_model', 'list_models']

_MODULES = (video_resnet.__name__.rsplit('.', 1)[-1],)


def list_models(pattern: str = '', pretrained: bool = False) -> List[str]:
    """Names of csst-zoo's registered models, optionally filtered by an fnmatch ``pattern``
    (e.g. ``'csst_*'``); with ``pretrained=True``, the ``name.tag`` of each set of weights."""
    return timm.list_models(pattern, module=_MODULES, pretrained=pretrained)


def is_model(name: str) -> bool:
    """True if ``name`` (optionally ``name.tag``) is a csst-zoo model."""
    return split_model_name_tag(name)[0] in list_models()


def create_named_model(name: str, checkpoint_path=None, **kwargs):
    """``create_model`` as the command line and the demo page take a name: a name with a pretrained
    tag (``tsm_resnet50.k400_mmaction2_8f``) comes with its weights (downloaded at first use), as a
    checkpoint (``hf-hub:``, ``local-dir:``) does; a bare name has random weights."""
    source, arch = parse_model_name(name)
    pretrained = True if not source and split_model_name_tag(arch)[1] else None
    return create_model(name, pretrained=pretrained, checkpoint_path=checkpoint_path, **kwargs)


def create_model(
        name: str,
        pretrained: Optional[bool] = None,
        checkpoint_path=None,
        revision: Optional[str] = None,
        local_files_only: bool = False,
        **kwargs,
):
    """Create a csst-zoo video model, as ``timm.create_model`` does.

    ``name`` is a registered name (``list_models()``), optionally with a pretrained tag
    (``csst_resnet50.tv_in1k``), or a saved video checkpoint: ``hf-hub:ORG/REPO[@REV]`` or
    ``local-dir:PATH`` (``config.json`` + ``model.safetensors``, as ``save_pretrained`` writes;
    its weights are loaded unless ``pretrained=False``; ``revision``, ``cache_dir`` and
    ``local_files_only`` go to huggingface_hub). Keyword arguments go to the model
    (``num_classes``, ``num_frames``, ``alpha``, ``groups``, ``drop_rate``, ``in_chans``, ...;
    over a checkpoint's own) or to timm's loader (``pretrained_cfg_overlay``, ``cache_dir``,
    ``features_only``). ``pretrained=True`` on a registered name inflates timm's ImageNet
    weights. ``checkpoint_path`` loads a local file after building: a video checkpoint of this
    architecture, or a 2D ResNet state dict (timm or torchvision format), inflated.
    """
    source, arch = parse_model_name(name)
    if source:
        config, pretrained_cfg = resolve_checkpoint(
            source, arch, list_models(), revision=revision, cache_dir=kwargs.get('cache_dir'),
            local_files_only=local_files_only)
        kwargs = {**config.get('model_args', {}), **kwargs, 'pretrained_cfg': pretrained_cfg}
        name = config['architecture']
        pretrained = True if pretrained is None else pretrained
    elif revision is not None or local_files_only:
        raise ValueError(f'revision and local_files_only apply to hf-hub: names, not {name!r}')
    elif not is_model(arch):
        close = difflib.get_close_matches(split_model_name_tag(arch)[0], list_models(), n=3, cutoff=0.5)
        hint = f' Did you mean {", ".join(repr(c) for c in close)}?' if close else ''
        raise ValueError(f'unknown model name {name!r}: see csst_zoo.list_models().{hint}')
    elif split_model_name_tag(arch)[1] and arch not in list_models(pretrained=True):
        tags = list_models(f'{split_model_name_tag(arch)[0]}.*', pretrained=True)
        raise ValueError(f'unknown pretrained tag in {name!r}; the tags of this model: {", ".join(tags)} '
                         "(csst-zoo models lists them all)")
    model = timm.create_model(name, pretrained=bool(pretrained), **kwargs)
    if checkpoint_path:
        load_checkpoint(model, checkpoint_path)
    return model
