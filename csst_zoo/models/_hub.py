"""Reading video checkpoints in timm's hub format: ``config.json`` + ``model.safetensors``.

The same two files work from the Hugging Face Hub (``hf-hub:ORG/REPO[@REV]``) and from a
folder (``local-dir:PATH``). Only safetensors weights are read from either: a pickle can run
code when it is loaded, a safetensors file cannot.
"""
import dataclasses
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from timm.models import PretrainedCfg
from timm.models._hub import hf_split

from .._io import read_mapping
from ._builder import VIDEO_CFG_FIELDS

__all__ = ['CONFIG_NAME', 'WEIGHTS_NAME', 'check_safetensors', 'read_config', 'resolve_checkpoint']

CONFIG_NAME = 'config.json'
WEIGHTS_NAME = 'model.safetensors'
_CFG_FIELDS = {f.name for f in dataclasses.fields(PretrainedCfg)}


def read_config(path, known_architectures) -> Dict[str, Any]:
    """The parsed ``config.json`` of a video checkpoint, checked; ValueError names what is wrong."""
    config = read_mapping(path, 'checkpoint config')
    arch = config.get('architecture')
    if arch not in known_architectures:
        raise ValueError(
            f'checkpoint config {path} names architecture {arch!r}, which csst-zoo does not have; '
            f'accepted: {", ".join(known_architectures)}')
    for key in ('model_args', 'pretrained_cfg'):
        if not isinstance(config.get(key, {}), dict):
            raise ValueError(f'checkpoint config {path}: {key!r} must be a JSON object')
    labels = config.get('label_names')
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(n, str) for n in labels)):
        raise ValueError(f"checkpoint config {path}: 'label_names' must be a list of strings")
    origin = config.get('converted_from')
    if origin is not None and not (isinstance(origin, dict) and all(
            isinstance(origin.get(k), str) for k in ('repository', 'file'))):
        raise ValueError(f"checkpoint config {path}: 'converted_from' must be a JSON object naming the authors' "
                         "'repository' and 'file'")
    return config


def check_safetensors(path) -> None:
    """Raise ValueError unless ``path`` is a complete safetensors file."""
    from safetensors import safe_open
    path = Path(path)
    with path.open('rb') as f:
        head = f.read(2)
    if head[:1] == b'\x80' or head == b'PK':
        raise ValueError(
            f'{path} is a pickle (torch.save) file; csst-zoo reads only safetensors weights from a hub or '
            f'folder, since loading a pickle can run code. Convert a trusted file with '
            f'csst_zoo.save_pretrained(csst_zoo.create_model(NAME, checkpoint_path=FILE), DIR).')
    try:
        with safe_open(str(path), 'pt') as f:
            f.keys()
    except Exception as e:
        raise ValueError(f'{path} is not a readable safetensors file (truncated or of another format): {e}') from None


def _hub_file(repo_id: str, filename: str, revision, cache_dir, local_files_only) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RevisionNotFoundError
    where = f'{repo_id}' + (f'@{revision}' if revision else '')
    hint = ' (csst-zoo reads only model.safetensors weights, never pickles)' if filename == WEIGHTS_NAME else ''
    try:
        return hf_hub_download(
            repo_id, filename, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
    except LocalEntryNotFoundError as e:  # before EntryNotFoundError, its base class
        raise FileNotFoundError(
            f'{filename}{hint} of {where} is neither in the cache ({cache_dir or "default cache"}) nor reachable '
            f'({e}); with no network, download it elsewhere and pass cache_dir=, or use local-dir:PATH') from None
    except EntryNotFoundError:
        raise FileNotFoundError(f'Hugging Face Hub repo {where} has no {filename}{hint}') from None
    except RevisionNotFoundError:
        raise FileNotFoundError(f'Hugging Face Hub repo {repo_id} has no revision {revision!r}') from None


def resolve_checkpoint(
        source: str,
        ref: str,
        known_architectures,
        revision: Optional[str] = None,
        cache_dir=None,
        local_files_only: bool = False,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(config, pretrained_cfg) of the checkpoint at ``source:ref``; the cfg's ``file`` is the
    local path of its checked ``model.safetensors``."""
    if source == 'local-dir':
        if revision or local_files_only:
            raise ValueError('revision and local_files_only apply to hf-hub: checkpoints, not local-dir:')
        folder = Path(ref)
        config_file, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        for f in (config_file, weights):
            if not f.is_file():
                raise FileNotFoundError(f'checkpoint folder {folder} has no {f.name} (needs {CONFIG_NAME} and '
                                        f'{WEIGHTS_NAME}, as written by csst_zoo.save_pretrained)')
        extra = {}
    elif source == 'hf-hub':
        repo_id, rev = hf_split(ref)
        if rev and revision and rev != revision:
            raise ValueError(f'two revisions given: {ref!r} and revision={revision!r}')
        revision = revision or rev
        config_file = _hub_file(repo_id, CONFIG_NAME, revision, cache_dir, local_files_only)
        weights = _hub_file(repo_id, WEIGHTS_NAME, revision, cache_dir, local_files_only)
        extra = dict(hf_hub_id=ref if not revision or rev else f'{repo_id}@{revision}')
    else:
        raise ValueError(f"checkpoint source must be 'hf-hub' or 'local-dir', got {source!r}")
    config = read_config(config_file, known_architectures)
    check_safetensors(weights)
    cfg = {k: v for k, v in config.get('pretrained_cfg', {}).items() if k in _CFG_FIELDS or k in VIDEO_CFG_FIELDS}
    cfg['video_trained'] = True  # a saved video checkpoint: trained, fine-tuned or converted weights
    # source 'file': timm's loader takes the checked local file (its 'hf-hub' source would fetch
    # again, without the revision and local_files_only given here).
    cfg.update(extra, source='file', file=str(weights), architecture=config['architecture'])
    if config.get('label_names') is not None:
        cfg['label_names'] = tuple(config['label_names'])
    if config.get('num_classes') is not None:
        cfg['num_classes'] = config['num_classes']
    origin = config.get('converted_from')
    if origin:  # timm's fields for where weights come from, so the model itself can say
        cfg['origin_url'] = f'https://github.com/{origin["repository"]}'
        cfg['description'] = f"converted by csst-zoo convert from {origin['file']}"
    return config, cfg
