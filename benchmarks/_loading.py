"""Measuring loading, shared by dataload.py, prepare.py and predict_collection.py: one worker's time
and memory per clip of a video, the collections shaped like data sets (PROFILES), a loader's clips/s
and its workers' peak memory, the model alone, and the rate to expect of predict."""
import math
import statistics
import time
from pathlib import Path
from typing import NamedTuple, Tuple

import torch

from _measure import proc_status, reset_peak_rss, sync


class Profile(NamedTuple):
    """A collection shaped like a data set: its videos' format, height, lengths (one file each) and frame rate."""
    name: str
    format: str
    height: int
    lengths: Tuple[float, ...]
    fps: int


PROFILES = {p.name: p for p in (
    Profile('sthv1-jpeg-100p', 'frames', 100, (3.0, 4.0), 12),
    Profile('sthv2-webm-240p', 'webm', 240, (2.0, 4.0, 6.0), 12),
    Profile('kinetics-mp4-340p', 'mp4', 340, (10.0, 10.0), 30),
    Profile('kinetics-mp4-720p', 'mp4', 720, (10.0, 10.0), 30),
    Profile('long-mp4-720p', 'mp4', 720, (60.0,), 30),
)}


def measure_loading(path: str, frames: int, train: bool, clips: int, warmup: bool):
    """(seconds per clip, peak bytes above the resting set) of loading ``clips`` clips of ``path``, as
    a DataLoader worker does (torch on one thread); run it in a fresh process (in_fresh_process)."""
    torch.set_num_threads(1)
    import csst_zoo
    from csst_zoo.data import VideoDataset, eval_transform, train_transform
    cfg = csst_zoo.create_model('c2d_resnet18', num_frames=frames).pretrained_cfg
    transform = train_transform(cfg) if train else eval_transform(cfg)
    dataset = VideoDataset([(path, 0)], frames, transform, train=train)
    if warmup:
        dataset[0]
    can_peak = reset_peak_rss()
    rest = proc_status('VmRSS')
    times = []
    for _ in range(clips):
        start = time.perf_counter()
        dataset[0]
        times.append(time.perf_counter() - start)
    return statistics.median(times), (proc_status('VmHWM') - rest) if can_peak else None


def _worker_started(_):
    global _worker_rest
    reset_peak_rss()
    _worker_rest = proc_status('VmRSS')


class _WithPeak(torch.utils.data.Dataset):
    """A data set's items, each with its worker's peak resident bytes above the worker's start."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i], proc_status('VmHWM') - _worker_rest


def _peak_collate(items):
    return [item for item, _ in items], max(peak for _, peak in items)


def model_clips_per_s(model, frames: int, batch: int, rounds: int, amp: bool, memory_format) -> float:
    """Clips/s of ``model`` alone on ``rounds`` batches of test clips already on its device, after one
    warm-up batch: what predict would reach if loading cost nothing."""
    from csst_zoo.engine.inference import view_logits
    device = next(model.parameters()).device
    _, _, height, width = model.pretrained_cfg['input_size']
    clips = torch.randn(batch, 1, 3, frames, height, width, device=device)
    with torch.no_grad():
        view_logits(model, clips, memory_format, amp)  # the first batch allocates and picks kernels
        sync(device.type)
        start = time.perf_counter()
        for _ in range(rounds):
            view_logits(model, clips, memory_format, amp)
        sync(device.type)
    return rounds * batch / (time.perf_counter() - start)


def measure_loader(paths, frames: int, clips: int, workers: int, batch: int, predict_model: str,
                   amp: bool = False, channels_last: bool = False):
    """Clips/s of a DataLoader with ``workers`` workers over ``clips`` samples of ``paths`` (train,
    then test sampling), the largest peak of a worker above its start, and, with ``predict_model``,
    the clips/s of engine.predict_videos over the same samples with the same workers and batch, the
    model on the GPU when there is one (as ``csst-zoo predict`` puts it, with ``amp`` and
    ``channels_last`` as its flags), and of the model alone on as many clips already in memory. For
    JPEG frame folders, also the train clips/s of ``--decode-on-device``: the workers read the
    sampled frames' files, and the main process decodes each batch's JPEGs in one call on the GPU
    (nvjpeg), or on the CPU without one, then crops and flips there."""
    import csst_zoo
    from csst_zoo.data import VideoDataset, collate_clips, decode_clips, eval_transform, train_transform
    from csst_zoo.engine import clip_memory_format, inference_device, predict_videos
    samples = [(paths[k % len(paths)], 0) for k in range(clips)]
    memory_format = clip_memory_format(channels_last)
    model = csst_zoo.create_model(predict_model or 'c2d_resnet18', num_frames=frames)
    device = inference_device()
    model.eval().to(device, memory_format=memory_format)
    cfg = model.pretrained_cfg
    result = {'device': device.type}
    if predict_model:
        result['model'] = model_clips_per_s(model, frames, batch, math.ceil(clips / batch), amp, memory_format)
    for sampling, transform in (('train', train_transform(cfg)), ('test', eval_transform(cfg))):
        dataset = _WithPeak(VideoDataset(samples, frames, transform, train=sampling == 'train'))
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers, prefetch_factor=4,
                                             collate_fn=_peak_collate, worker_init_fn=_worker_started)
        start, peak = time.perf_counter(), 0
        for _, batch_peak in loader:
            peak = max(peak, batch_peak)
        result[sampling] = clips / (time.perf_counter() - start)
        result['peak'] = max(result.get('peak', 0), peak)
    if all(Path(p).is_dir() for p in paths):
        transform = train_transform(cfg)
        loader = torch.utils.data.DataLoader(
            VideoDataset(samples, frames, transform, train=True, defer_decoding=True), batch_size=batch,
            num_workers=workers, prefetch_factor=4, collate_fn=collate_clips)
        start = time.perf_counter()
        for encoded, labels in loader:
            decode_clips(encoded, labels, transform, device.type)
        sync(device.type)
        result['on_device'] = clips / (time.perf_counter() - start)
    if predict_model:
        start = time.perf_counter()
        answered = sum(p.error is None for p in predict_videos(
            model, [path for path, _ in samples], batch_size=batch, workers=workers, amp=amp,
            memory_format=memory_format))
        if answered != clips:
            raise RuntimeError(f'predict_videos answered {answered} of {clips} videos')
        result['predict'] = clips / (time.perf_counter() - start)
    return result


def expected_predict_rate(row) -> float:
    """The clips/s to expect of predict: the slower of the test loader and the model alone where
    the model has a device of its own; on the CPU, where the workers and the model share the
    cores, the time of loading a clip and of classifying it add up (one worker leaves a core to the
    model, so predict can beat this)."""
    if row['device'] == 'cpu':
        return 1 / (1 / row['test'] + 1 / row['model'])
    return min(row['test'], row['model'])
