"""Training, evaluation and prediction."""
from .collection import Prediction, PredictionWriter, list_videos, model_id, predict_videos
from .inference import class_names, clip_memory_format, inference_device, predict_video, untrained_notice
from .metrics import classification_metrics
from .timeline import Timeline, predict_timeline
from .train import TrainConfig, evaluate, fit, read_recipe, weights_digest

__all__ = ['TrainConfig', 'fit', 'evaluate', 'read_recipe', 'class_names', 'clip_memory_format', 'inference_device',
           'predict_video', 'predict_videos', 'Prediction', 'PredictionWriter', 'list_videos', 'model_id',
           'predict_timeline', 'Timeline', 'classification_metrics', 'untrained_notice', 'weights_digest']
