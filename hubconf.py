"""torch.hub entry points: one per csst-zoo model and one per set of weights (``name.tag``),
generated from the registry.

    torch.hub.load('org/csst', 'csst_resnet50', pretrained=True, num_classes=174)
    torch.hub.load('org/csst', 'tsm_resnet50.k400_mmaction2_8f', pretrained=True)  # Kinetics-400, 400 classes
    torch.hub.load('/path/to/clone', 'csst_resnet50', source='local')   # no network, no rate limit
"""
import csst_zoo as _csst_zoo
from timm.models import get_pretrained_cfg as _get_pretrained_cfg, model_entrypoint as _model_entrypoint

dependencies = ['torch', 'timm', 'safetensors', 'huggingface_hub', 'einops']

_USAGE = '''
    timm's ResNet with {description}
    Returns a video classifier for clips (N, 3, T, H, W).
    pretrained=True: {weights}.
    Keyword arguments are csst_zoo.create_model's: num_classes, num_frames, drop_rate, in_chans,
    alpha and groups (CSST; groups for C3D-g), pretrained_cfg_overlay=dict(file=...) or
    checkpoint_path=... for local weights, cache_dir.
'''


def _make_entrypoint(name):
    def entrypoint(pretrained=False, **kwargs):
        return _csst_zoo.create_model(name, pretrained=pretrained, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = name
    weights = _get_pretrained_cfg(name).notes[0]
    family = _csst_zoo.FAMILIES[name.split('_', 1)[0]]
    entrypoint.__doc__ = (_model_entrypoint(name).__doc__.strip() + '\n'
                          + _USAGE.format(weights=weights, description=family.card.description))
    return entrypoint


# torch.hub.list lists, and torch.hub.load finds with getattr, the tagged names too
for _name in _csst_zoo.list_models() + _csst_zoo.list_models(pretrained=True):
    globals()[_name] = _make_entrypoint(_name)
