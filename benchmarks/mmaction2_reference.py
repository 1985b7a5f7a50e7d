"""mmaction2's side of the parity check: run by a Python that has mmaction2 1.2.0, never csst-zoo.

    MM_PYTHON benchmarks/mmaction2_reference.py OUT --frames 8

``official_parity.py --mmaction2 MM_PYTHON`` runs it. For each recognizer below it builds the model
from mmaction2's own config file, gives every weight and BatchNorm statistic random values, saves
it as mmengine's Runner does (``{'meta': ..., 'state_dict': ...}``, under the released file's name,
so the converter recognises it), and records its logits on the same raw frames through
mmaction2's own test pipeline: CenterCrop, FormatShape, ActionDataPreprocessor, the recognizer's
``extract_feat`` and head. It also records the frame indices of mmaction2's ``SampleFrames`` in
test mode for a few video lengths. Everything goes to OUT: the ``.pth`` files, ``frames.npy`` and
``reference.json``.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from _random_weights import randomise

# (config under mmaction/.mim/configs/recognition, released file's date-hash): one of each family
RECOGNIZERS = (
    ('tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb', '20220906-2692d16c'),
    ('tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb', '20220831-64d69186'),
    ('tanet/tanet_imagenet-pretrained-r50_8xb8-1x1x8-50e_sthv1-rgb', '20220906-de50e4ef'),
    ('c2d/c2d_r50-in1k-pre-nopool_8xb32-8x8x1-100e_kinetics400-rgb', '20221027-e0227b22'),
)
# SampleFrames(clip_len, frame_interval, num_clips) in test mode, on videos of these lengths
SAMPLERS = ((1, 1, 8), (1, 1, 16), (8, 8, 10), (16, 4, 10), (8, 8, 1))
LENGTHS = (8, 30, 37, 100, 301)


def reference_logits(model, cfg, frames: np.ndarray, clip_len: int) -> list:
    """The recognizer's logits on ``frames`` (T, H, W, 3) uint8 RGB, one view, through mmaction2's
    own test-time crop, format and preprocessing."""
    from mmaction.datasets.transforms import CenterCrop, FormatShape, PackActionInputs
    results = dict(imgs=list(frames), img_shape=frames.shape[1:3], original_shape=frames.shape[1:3],
                   modality='RGB', clip_len=clip_len, num_clips=len(frames) // clip_len)
    for transform in (CenterCrop(crop_size=224), FormatShape(input_format='NCHW'), PackActionInputs()):
        results = transform(results)
    data = model.data_preprocessor(dict(inputs=[results['inputs']], data_samples=[results['data_samples']]), False)
    with torch.no_grad():
        feats, head_kwargs = model.extract_feat(data['inputs'], test_mode=True)
        return model.cls_head(feats, **head_kwargs).reshape(-1).tolist()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('output', type=Path)
    p.add_argument('--frames', type=int, default=8)
    p.add_argument('--height', type=int, default=256)
    p.add_argument('--width', type=int, default=320)
    args = p.parse_args(argv)
    import mmaction
    from mmengine.config import Config
    from mmaction.registry import MODELS, TRANSFORMS
    from mmaction.utils import register_all_modules
    register_all_modules()
    configs = Path(mmaction.__file__).parent / '.mim' / 'configs' / 'recognition'
    args.output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, args.height, args.width, 3), dtype=np.uint8)
    np.save(args.output / 'frames.npy', frames)
    out = {'mmaction2': mmaction.__version__, 'recognizers': {}, 'sampling': {}}
    for config, stamp in RECOGNIZERS:
        cfg = Config.fromfile(str(configs / f'{config}.py'))
        cfg.model.backbone.pretrained = None  # no ImageNet download: random weights follow
        model = MODELS.build(cfg.model)
        randomise(model)
        model.eval()
        name = f'{Path(config).name}_{stamp}.pth'
        meta = {'mmengine_version': '0.10.7', 'epoch': 50, 'seed': 0, 'experiment_name': Path(config).name}
        torch.save({'meta': meta, 'state_dict': model.state_dict()}, args.output / name)
        clip_len = args.frames if 'c2d' in config else 1
        out['recognizers'][name] = dict(
            model=f'{cfg.model.type} / {cfg.model.backbone.type} / {cfg.model.cls_head.type}',
            logits=reference_logits(model, cfg, frames, clip_len))
    for clip_len, interval, clips in SAMPLERS:
        sampler = TRANSFORMS.build(dict(type='SampleFrames', clip_len=clip_len, frame_interval=interval,
                                        num_clips=clips, test_mode=True))
        out['sampling'][f'{clip_len},{interval},{clips}'] = {
            n: sampler(dict(total_frames=n, start_index=0))['frame_inds'].tolist() for n in LENGTHS}
    (args.output / 'reference.json').write_text(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
