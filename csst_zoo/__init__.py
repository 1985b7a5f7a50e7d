"""csst-zoo: CSST-Net, its baselines (C2D, C3D, C3D-g, P3D) and rivals (TSM, GST, TAM) as timm-style video models."""
from . import _checks  # noqa: F401  (first: on a too old timm, the import fails here with a clear message)
from .version import __version__
from .layers import C2DConv, C3DConv
from .families import FAMILIES
from .families.csst import CSSTConv, pfff
from .families.gst import GSTConv
from .families.p3d import P3DConv
from .families.tam import TAMConv, TemporalAdaptiveModule
from .families.tsm import ShiftConv, temporal_shift
from .models import VideoResNet, create_model, is_model, list_models
from .hub import push_to_hub, save_pretrained

__all__ = [
    '__version__', 'create_model', 'list_models', 'is_model', 'VideoResNet', 'save_pretrained', 'push_to_hub',
    'FAMILIES', 'CSSTConv', 'C2DConv', 'C3DConv', 'P3DConv', 'GSTConv', 'ShiftConv', 'TAMConv',
    'TemporalAdaptiveModule', 'pfff', 'temporal_shift',
]
