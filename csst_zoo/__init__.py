"""csst-zoo: CSST-Net and its baselines (C2D, C3D, C3D-g, P3D) as timm-style video models."""
from .version import __version__
from .layers import C2DConv, C3DConv, CSSTConv, P3DConv, pfff
from .models import VideoResNet, create_model, is_model, list_models
from .hub import push_to_hub, save_pretrained

__all__ = [
    '__version__', 'create_model', 'list_models', 'is_model', 'VideoResNet', 'save_pretrained', 'push_to_hub',
    'CSSTConv', 'C2DConv', 'C3DConv', 'P3DConv', 'pfff',
]
