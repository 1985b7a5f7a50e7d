"""Classifying one video, and how the views of a video are combined."""
import math
from typing import List, Optional, Tuple

import torch
from einops import rearrange

from ..data import VideoDataset, eval_transform, sampling_args

__all__ = ['amp_dtype', 'class_names', 'clip_memory_format', 'inference_device', 'predict_video', 'untrained_notice',
           'view_logits']

# A video-trained model to name where a model has never seen a video (csst-zoo models lists them all).
EXAMPLE_TAG = 'tsm_resnet50.k400_mmaction2_8f'


def class_names(model) -> List[str]:
    """The names of ``model``'s classes: the checkpoint's ``label_names`` where it has them, else
    each class's index as text."""
    return list(model.pretrained_cfg.get('label_names') or map(str, range(model.num_classes)))


def untrained_notice(model) -> Optional[str]:
    """One line saying that ``model`` has never been trained on video (random or ImageNet weights,
    so its classes mean nothing for actions), naming what to use instead; None for a model that has."""
    if model.pretrained_cfg.get('video_trained'):
        return None
    arch = model.pretrained_cfg.get('architecture') or type(model).__name__
    return (f'note: {arch} holds no video-trained weights (random or ImageNet-inflated, its {model.num_classes} '
            f'classes untrained on actions), so its answers are noise; use a video-trained tag such as '
            f'{EXAMPLE_TAG} (csst-zoo models lists them), or --checkpoint, hf-hub: or local-dir: with trained weights')


def inference_device() -> torch.device:
    """Where predict, eval and the demo run a model: the GPU when there is one, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def amp_dtype(device: torch.device) -> torch.dtype:
    """The autocast precision: bf16 (fp32's range, no grad scaler needed) wherever the device computes
    in it, fp16 with a grad scaler on GPUs without bf16."""
    if device.type == 'cuda' and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def clip_memory_format(channels_last: bool) -> torch.memory_format:
    """The layout of clips, and of the model's weights, with or without channels-last:
    ``channels_last_3d`` (each frame channels-innermost, the layout cuDNN's and oneDNN's fast
    kernels read) or contiguous."""
    return torch.channels_last_3d if channels_last else torch.contiguous_format


def view_logits(model, clips: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format,
                amp: bool = False):
    """Logits of videos given as ``(B, V, C, T, H, W)`` clips: the model on all ``V`` views of each
    (in ``memory_format``, under autocast with ``amp``), their logits averaged. This is TSN's and
    TSM's test protocol (class scores averaged over the crops and clips before any softmax), used by
    evaluation, prediction and the training loop. A model whose cfg says that its views are joined
    by their softmax (``test_views['combine'] == 'softmax'``: mmaction2's TSMHead, behind the TSM
    and TANet tags' figures) gets the log of the views' mean softmax instead: its softmax is that mean."""
    b, v = clips.shape[:2]
    with torch.autocast(clips.device.type, dtype=amp_dtype(clips.device), enabled=bool(amp)):
        logits = model(rearrange(clips, 'b v c t h w -> (b v) c t h w').contiguous(memory_format=memory_format))
    logits = rearrange(logits, '(b v) k -> b v k', b=b)
    cfg = getattr(getattr(model, 'module', model), 'pretrained_cfg', {})  # DDP wraps the model as .module
    if v > 1 and (cfg.get('test_views') or {}).get('combine') == 'softmax':
        return logits.float().log_softmax(dim=-1).logsumexp(dim=1) - math.log(v)
    return logits.mean(dim=1)


@torch.no_grad()
def predict_video(model, path, clips: int = 1, crops: int = 1, topk: int = 5, amp: bool = False,
                  memory_format: torch.memory_format = torch.contiguous_format) -> List[Tuple[str, float]]:
    """The ``topk`` (class name, probability) of the video at ``path`` (file, frame folder, or a
    reader from ``open_video``): ``clips`` x ``crops`` views sampled and transformed as in
    evaluation, their logits averaged (``view_logits``, with ``amp`` and ``memory_format``: put the
    model in that format too), then the softmax. Class names are ``class_names(model)``."""
    model.eval()
    cfg = model.pretrained_cfg
    dataset = VideoDataset([(path, 0)], cfg['input_size'][1], eval_transform(cfg, crops), train=False, clips=clips,
                           **sampling_args(cfg))
    views = dataset.load(0)
    device = next(model.parameters()).device
    probs = view_logits(model, views[None].to(device), memory_format, amp)[0].float().softmax(dim=0)
    top = probs.topk(min(topk, len(probs)))
    names = class_names(model)
    return [(names[i], p) for p, i in zip(top.values.tolist(), top.indices.tolist())]
