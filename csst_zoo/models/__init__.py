from .video_resnet import VideoResNet
from ._factory import create_model, is_model, list_models

__all__ = ['VideoResNet', 'create_model', 'is_model', 'list_models']
