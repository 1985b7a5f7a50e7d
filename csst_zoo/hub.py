"""Save and publish trained video models in timm's hub format, with a model card.

    csst_zoo.save_pretrained(model, 'out/', labels=class_names)   # model.safetensors, config.json, README.md
    csst_zoo.push_to_hub(model, 'me/csst-r50-sthv1', labels=class_names)
    model = csst_zoo.create_model('hf-hub:me/csst-r50-sthv1')       # or 'local-dir:out/'

``config.json`` has the layout timm's ``save_for_hf`` writes (``architecture``, ``num_classes``,
``label_names``, ``model_args``, ``pretrained_cfg``), so ``timm.create_model('hf-hub:...',
pretrained=True)`` rebuilds the model too once csst_zoo is imported.
"""
import json
import string
import tempfile
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from timm.models import filter_pretrained_cfg, get_pretrained_cfg

from . import mmaction2, paper
from ._io import staged_files
from .models import VideoResNet, create_model
from .models._hub import CONFIG_NAME, WEIGHTS_NAME
from .profiling import count_flops, count_params
from .version import __version__

__all__ = ['model_config', 'model_card', 'save_pretrained', 'push_to_hub']

CARD_NAME = 'README.md'


def _check_savable(model) -> None:
    if not isinstance(model, VideoResNet):
        raise TypeError(f'model must be a csst-zoo VideoResNet (csst_zoo.create_model), got {type(model).__name__}')
    if not model.pretrained_cfg.get('architecture'):
        raise ValueError('model.pretrained_cfg has no architecture: create the model with csst_zoo.create_model')


def model_config(model: VideoResNet, labels: Optional[Sequence[str]] = None,
                 converted_from: Optional[dict] = None) -> dict:
    """The ``config.json`` of ``model``: what rebuilds it, its preprocessing and its class names;
    ``converted_from`` (``repository``, ``file``, ``release``) names the official checkpoint of a
    converted model."""
    _check_savable(model)
    if labels is not None:
        labels = list(labels)
        if len(labels) != model.num_classes or not all(isinstance(n, str) for n in labels):
            raise ValueError(f'labels must be {model.num_classes} strings, one per class (num_classes), '
                             f'got {len(labels)} items')
    elif model.pretrained_cfg.get('label_names') and len(model.pretrained_cfg['label_names']) == model.num_classes:
        labels = list(model.pretrained_cfg['label_names'])
    cfg = filter_pretrained_cfg(model.pretrained_cfg, remove_source=True)
    for key in ('architecture', 'tag', 'state_dict', 'label_names', 'notes', 'custom_load', 'video_trained'):
        cfg.pop(key, None)
    cfg['num_classes'] = model.num_classes
    cfg['notes'] = (f'video checkpoint saved by csst-zoo {__version__}',)
    config = dict(
        architecture=model.pretrained_cfg['architecture'],
        num_classes=model.num_classes,
        num_features=model.num_features,
        global_pool=model.global_pool.pool_type,
        model_args=dict(num_classes=model.num_classes, num_frames=model.num_frames, in_chans=model.in_chans,
                        global_pool=model.global_pool.pool_type, **model.family_args),
        pretrained_cfg=cfg,
        csst_zoo_version=__version__,
    )
    if labels is not None:
        config['label_names'] = labels
    release = mmaction2.release_of(f'{config["architecture"]}.{model.pretrained_cfg.get("tag")}')
    if converted_from is None and release is not None and not release.inflated:  # a model of a tag, as published
        converted_from = dict(repository=mmaction2.REPOSITORY, file=release.filename, release=release.tag)
    if converted_from is not None:
        config['converted_from'] = dict(converted_from)
    return config


def _release(family, origin: Optional[dict], arch: str):
    """(the published checkpoint a converted checkpoint came from, if it is a known one, and who
    published it)."""
    if origin and origin.get('repository') == mmaction2.REPOSITORY:
        return mmaction2.release_of(f'{arch}.{origin.get("release")}'), "OpenMMLab's mmaction2"
    releases = family.card.official.releases if origin and family.card.official else ()
    return next((r for r in releases if r.id == origin.get('release')), None), "the method's authors"


def model_card(config: dict, repo_id: Optional[str] = None, dataset: Optional[str] = None,
               model: Optional[VideoResNet] = None) -> str:
    """The model card (README.md with Hugging Face metadata) of a checkpoint's ``config``,
    rendered from the package's template; params and FLOPs are measured on ``model`` (the one
    ``config`` describes; built from ``config`` when not given)."""
    arch, args = config['architecture'], dict(config['model_args'])
    model = model if model is not None else create_model(arch, **args)
    cfg = config['pretrained_cfg']
    t = cfg['input_size'][1]
    from .data.transforms import eval_sizes  # the data pipeline is not needed to import csst_zoo
    size, resize = eval_sizes(cfg)
    family = model.family
    origin = config.get('converted_from')
    release, who = _release(family, origin, arch)
    if release:
        data_id, data_name, views = release.dataset, release.dataset_name, release.views
        reported = {k: v for k, v in (('top1', release.top1), ('top5', release.top5)) if v is not None}
    else:
        who, data_id, data_name = 'the paper', 'something-something-v1', 'Something-Something V1'
        views = f'{t} frames, 1 clip x centre crop'
        reported = paper.reported_results(arch, model.family_args, t, config['num_classes'])
    datasets = [dataset] if dataset else []
    eval_results = [
        EvalResult(task_type='video-classification', dataset_type=data_id, dataset_name=data_name,
                   metric_type=k.replace('top', 'top-'), metric_value=v, verified=False,
                   metric_name=f'{k.replace("top", "Top-")} (reported by {who}, not measured on this checkpoint)')
        for k, v in reported.items()]
    if reported:
        datasets = datasets or [data_id]
        shown = ', '.join(f'{k.replace("top", "Top-")} {v}%' for k, v in reported.items())
        results = (f'Reported by {who} for this configuration on {data_name} ({views} at test): {shown}. These '
                   f'are their figures, marked `verified: false` in the metadata; they were not measured on this '
                   f'checkpoint.')
    else:
        results = f'{who.capitalize()} reports no result for this configuration, and none was measured for this card.'
    if origin:
        results = (f"Converted by csst-zoo from the checkpoint `{origin['file']}` of "
                   f"github.com/{origin['repository']}; the conversion reproduces the logits of that repository's "
                   'own code. ' + results)
    labels = config.get('label_names')
    label_text = (f'names in `config.json` (`model.pretrained_cfg["label_names"]`), e.g. '
                  f'{", ".join(repr(n) for n in labels[:3])}' if labels else 'no class names were saved')
    # The Hub's own metadata classes write (and check) the YAML header, model-index included.
    metadata = ModelCardData(
        library_name='timm', pipeline_tag='video-classification',
        tags=['video-classification', 'action-recognition', 'csst-zoo', 'timm'],
        license=cfg.get('license') or 'apache-2.0', base_model=get_pretrained_cfg(arch).hf_hub_id,
        datasets=datasets or None, model_name=arch if eval_results else None, eval_results=eval_results or None)
    template = string.Template(resources.files(__package__).joinpath('model_card.md').read_text(encoding='utf-8'))
    body = template.substitute(
        base_model=get_pretrained_cfg(arch).hf_hub_id, architecture=arch,
        family_name=family.card.title, family_description=family.card.description, paper=family.card.paper,
        initialisation=family.card.initialisation, version=__version__,
        num_classes=config['num_classes'], model_args=', '.join(f'{k}={v!r}' for k, v in args.items()),
        params_m=f'{count_params(model) / 1e6:.2f}', gflops=f'{count_flops(model, frames=t, size=size) / 1e9:.2f}',
        frames=t, size=size, mean=tuple(cfg['mean']), std=tuple(cfg['std']), crop_pct=cfg.get('crop_pct'),
        resize=resize, labels=label_text, results=results,
        length_note=(f'exactly {t}: the model is built for one clip length' if model.fixed_num_frames
                     else 'T is read from the input, so other lengths run'),
        repo_id=repo_id or 'ORG/REPO')
    return str(ModelCard(f'---\n{metadata.to_yaml()}\n---\n\n{body}'))


def save_pretrained(
        model: VideoResNet,
        save_directory,
        labels: Optional[Sequence[str]] = None,
        repo_id: Optional[str] = None,
        dataset: Optional[str] = None,
        converted_from: Optional[dict] = None,
) -> Path:
    """Write ``model.safetensors``, ``config.json`` and a model card ``README.md`` to
    ``save_directory`` (created if needed), all three or none. Returns the directory."""
    config = model_config(model, labels, converted_from)  # checks the model and labels before anything is written
    card = model_card(config, repo_id, dataset, model=model)
    directory = Path(save_directory)
    directory.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    state_dict = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with staged_files(*(directory / n for n in (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME))) as stage:
        save_file(state_dict, str(stage / WEIGHTS_NAME), metadata={'format': 'pt'})
        (stage / CONFIG_NAME).write_text(json.dumps(config, indent=2) + '\n', encoding='utf-8')
        (stage / CARD_NAME).write_text(card, encoding='utf-8')
    return directory


def push_to_hub(
        model: VideoResNet,
        repo_id: str,
        labels: Optional[Sequence[str]] = None,
        dataset: Optional[str] = None,
        commit_message: str = 'Add csst-zoo model',
        token: Optional[str] = None,
        revision: Optional[str] = None,
        private: bool = False,
        create_pr: bool = False,
):
    """Upload ``model`` (safetensors weights, config.json and a generated model card) to the
    Hugging Face Hub repo ``repo_id``, created if needed. Returns huggingface_hub's commit info."""
    from huggingface_hub import HfApi
    api = HfApi(token=token, library_name='csst-zoo', library_version=__version__)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp, labels=labels, repo_id=repo_id, dataset=dataset)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        return api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=revision, create_pr=create_pr,
                                 commit_message=commit_message)

