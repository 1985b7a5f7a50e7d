"""Model construction and pretrained loading, in one place (timm's ``build_model_with_cfg`` for video).

timm's own ``build_model_with_cfg`` assumes image cfgs (``input_size`` of length 3); video cfgs
carry ``input_size=(C, T, H, W)`` and ``pool_size=(T, h, w)``. Everything else is timm's:
cfg resolution (``pretrained_cfg``/``pretrained_cfg_overlay``, hub id, file, url), the
``load_pretrained`` source priority (state_dict > file > hf-hub > url), classifier dropping
when ``num_classes`` differs, and timm's feature wrappers for ``features_only`` (``feature_cls``:
None or 'list', 'dict', or 'fx' for torch.fx feature extraction).
"""
from typing import Any, Dict, Optional

from timm.models import FeatureDictNet, FeatureListNet, load_pretrained, load_state_dict
from timm.models._features_fx import FeatureGraphNet
from timm.models._builder import pretrained_cfg_for_features, resolve_pretrained_cfg

from ..inflate import check_state_dict, inflate_state_dict, is_video_state_dict
from ..mmaction2 import download_release, recognizer_state_dict, release_of

__all__ = ['VIDEO_CFG_FIELDS', 'build_video_model', 'load_checkpoint', 'split_video_cfg']

# What a video model's cfg says beyond timm's PretrainedCfg fields: how it samples frames
# ('segments': one from each of T equal segments, as TSN; 'dense': T frames frame_interval apart),
# the test views of its published figure, and whether its weights (head included) were trained
# on video: False for random or ImageNet weights, whose answers mean nothing for actions.
VIDEO_CFG_FIELDS = ('sampling', 'frame_interval', 'test_views', 'video_trained')


_FEATURE_CLASSES = {None: FeatureListNet, 'list': FeatureListNet, 'dict': FeatureDictNet, 'fx': FeatureGraphNet}


def _describe_source(cfg: Dict[str, Any]) -> str:
    if cfg.get('state_dict') is not None:
        return 'the given state_dict'
    if cfg.get('file'):
        return f'file {cfg["file"]!r}'
    sources = [f'Hugging Face Hub id {cfg["hf_hub_id"]!r}'] if cfg.get('hf_hub_id') else []
    sources += [f'url {cfg["url"]!r}'] if cfg.get('url') else []
    return ' / '.join(sources) or 'no source'


def split_video_cfg(cfg):
    """(timm's fields, the video fields) of a cfg dict; anything else passes through."""
    if not isinstance(cfg, dict):
        return cfg, {}
    return ({k: v for k, v in cfg.items() if k not in VIDEO_CFG_FIELDS},
            {k: v for k, v in cfg.items() if k in VIDEO_CFG_FIELDS})


def _resolve_cfg(variant: str, pretrained_cfg, pretrained_cfg_overlay) -> Dict[str, Any]:
    """timm's cfg resolution, plus the video fields (``VIDEO_CFG_FIELDS``): given ones over a
    pretrained tag's own (``csst_zoo.mmaction2``) over the defaults (TSN segments)."""
    pretrained_cfg, video_cfg = split_video_cfg(pretrained_cfg)
    pretrained_cfg_overlay, video_overlay = split_video_cfg(pretrained_cfg_overlay)
    cfg = resolve_pretrained_cfg(variant, pretrained_cfg, pretrained_cfg_overlay).to_dict()
    release = release_of(f'{variant}.{cfg.get("tag")}')
    if release and (pretrained_cfg_overlay or {}).get('custom_load') is None:
        # timm resets custom_load when a file or url is given; for an mmaction2 tag that is a local
        # copy or mirror of the published file, in the same format
        cfg['custom_load'] = 'mmaction2'
    cfg.update({'sampling': 'segments', 'frame_interval': 1, **(release.video_cfg() if release else {}),
                **video_cfg, **video_overlay})
    return cfg


def _offline_hint(name: str, cfg: Dict[str, Any]) -> str:
    if cfg.get('custom_load') == 'mmaction2':
        return (f'download {cfg["url"]} elsewhere and pass it: create_model({name!r}, pretrained=True, '
                f'pretrained_cfg_overlay=dict(file="PATH/{cfg["url"].rsplit("/", 1)[-1]}"))')
    return (f'pass a local 2D ResNet or video checkpoint: create_model({name!r}, pretrained=True, '
            f'pretrained_cfg_overlay=dict(file="PATH")) or create_model({name!r}, checkpoint_path="PATH")')


def _load_weights(model, cfg: Dict[str, Any], load_cfg: Dict[str, Any], cache_dir) -> bool:
    """Load the weights ``load_cfg`` locates into ``model`` (timm's ``load_pretrained``, inflating
    2D weights); returns whether they were a video checkpoint's."""
    # timm drops the classifier when num_classes differs from the cfg's. That is right for
    # ImageNet weights; a video checkpoint's classifier is kept whenever it fits the model.
    classifier, loaded = {}, {}

    def filter_fn(state_dict, model):
        video = loaded['video'] = is_video_state_dict(state_dict, model)
        state_dict = inflate_state_dict(state_dict, model)
        if video:
            target = model.get_classifier().state_dict()
            head = {k: state_dict.get(f'{cfg.get("classifier") or "fc"}.{k}') for k in target}
            if all(v is not None and v.shape == target[k].shape for k, v in head.items()):
                classifier.update(head)
        return state_dict
    name = f'{cfg["architecture"]}.{cfg["tag"]}' if cfg.get('tag') else cfg['architecture']
    try:
        if cfg.get('custom_load') == 'mmaction2' and load_cfg.get('state_dict') is None:
            # an mmaction2 recognizer: fetched (sha256-checked), read without running code, renamed
            # to a 2D ResNet state dict, then loaded as any 2D ResNet is
            path = cfg.get('file') or download_release(cfg['url'], cache_dir)
            load_cfg = dict(cfg, state_dict=recognizer_state_dict(path)[2])
        load_pretrained(model, load_cfg, num_classes=model.num_classes, in_chans=model.in_chans,
                        filter_fn=filter_fn, strict=True, cache_dir=cache_dir)
    except ValueError:
        raise  # a checkpoint that does not fit, or a download that is not the published file: it says which
    except Exception as e:
        raise RuntimeError(f'could not load pretrained weights for {name} from {_describe_source(cfg)}: '
                           f'{type(e).__name__}: {e}. Without network, {_offline_hint(name, cfg)}.') from e
    if classifier:
        model.get_classifier().load_state_dict(classifier)
    return loaded.get('video', False)


def build_video_model(
        model_cls,
        variant: str,
        pretrained: bool = False,
        pretrained_cfg: Optional[Dict[str, Any]] = None,
        pretrained_cfg_overlay: Optional[Dict[str, Any]] = None,
        cache_dir=None,
        features_only: bool = False,
        out_indices=(0, 1, 2, 3, 4),
        feature_cls: Optional[str] = None,
        pretrained_model_args: Optional[Dict[str, Any]] = None,
        **kwargs,
):
    if feature_cls not in _FEATURE_CLASSES:
        raise ValueError(f'feature_cls must be one of {sorted(_FEATURE_CLASSES, key=str)}, got {feature_cls!r}')
    load_cfg = _resolve_cfg(variant, pretrained_cfg, pretrained_cfg_overlay)
    if load_cfg.get('num_classes') is not None and load_cfg['num_classes'] >= 0:
        kwargs.setdefault('num_classes', load_cfg['num_classes'])
    source_chans = load_cfg['input_size'][0]
    kwargs.setdefault('in_chans', source_chans)
    model = model_cls(**kwargs)

    # The cfg describes the weights' input: channels as trained, T as configured, H, W as trained.
    t = model.num_frames
    load_cfg['input_size'] = (source_chans, t, *load_cfg['input_size'][-2:])
    load_cfg['pool_size'] = (t, *load_cfg['pool_size'][-2:])
    if load_cfg.get('label_names') and len(load_cfg['label_names']) != model.num_classes:
        load_cfg.pop('label_names')  # a new head: the checkpoint's class names are not its classes
    cfg = {k: v for k, v in load_cfg.items() if k != 'state_dict'}  # the model's cfg describes weights, holds none
    model.pretrained_cfg = model.default_cfg = cfg
    model.pretrained_model_args = pretrained_model_args or {}  # as timm: the checkpoint's own build arguments
    video = _load_weights(model, cfg, load_cfg, cache_dir) if pretrained else False
    # trained on video: a tag or checkpoint that says so, or a video state dict; never random
    # weights, nor a new head on trained ones
    cfg['video_trained'] = bool(pretrained and cfg.get('video_trained', video)
                                and model.num_classes == cfg.get('num_classes'))
    if features_only:
        model = _FEATURE_CLASSES[feature_cls](model, out_indices=out_indices)
        model.pretrained_cfg = model.default_cfg = pretrained_cfg_for_features(cfg)
    return model


def load_checkpoint(model, checkpoint_path) -> None:
    """Load a checkpoint file into ``model``: a video checkpoint of the same architecture, or a
    2D ResNet (timm or torchvision format), inflated, whose classifier is kept only if it fits."""
    try:
        state_dict = load_state_dict(str(checkpoint_path))
    except FileNotFoundError as e:
        raise FileNotFoundError(f'checkpoint_path {str(checkpoint_path)!r} does not exist') from e
    except Exception as e:
        raise RuntimeError(f'could not read checkpoint_path {str(checkpoint_path)!r} '
                           f'(truncated or not a weights file?): {type(e).__name__}: {e}') from e
    video = is_video_state_dict(state_dict, model)
    state_dict = inflate_state_dict(state_dict, model)
    if video:
        check_state_dict(state_dict, model)  # the classifier must fit too
    else:
        target = model.state_dict()
        state_dict = {k: v for k, v in state_dict.items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(state_dict, strict=video)
    if video:
        model.pretrained_cfg['video_trained'] = True
