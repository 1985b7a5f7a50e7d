"""OpenMMLab mmaction2's released recognizers (TSN, TSM, TANet, C2D on ResNet50) as csst-zoo models.

    model = csst_zoo.create_model('tsm_resnet50.k400_mmaction2_8f', pretrained=True)  # downloads once
    csst-zoo convert mmaction2 tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb_20220831-64d69186.pth -o DIR

mmaction2 1.x saves ``{'meta': ..., 'state_dict': ...}`` with the backbone under ``backbone.`` and
the classifier at ``cls_head.fc_cls``. Its ResNet wraps every conv and its BatchNorm in a
ConvModule (``conv1.conv``, ``conv1.bn``; the downsample path is ``downsample.conv`` /
``downsample.bn``); ResNetTSM wraps each block's first conv in its shift (``conv1.conv.net``);
TANet wraps each bottleneck (``block.``) beside its TAM (``tam.G``, the global branch, and
``tam.L``, the local one). Renamed, the tensors are timm's ResNet50 with 2D kernels (plus TAM's):
the zoo loads them as it loads any 2D ResNet, into the family the recognizer is (TSN's per-frame
ResNet is C2D), or inflated into another family (``csst_resnet50.k400_mmaction2_tsn_inflated``).

The heads (TSNHead, TSMHead) apply their classifier to every frame's pooled features and average
the logits over the frames: a linear layer commutes with that mean, so the zoo's
pool-then-linear head gives the same logits. mmaction2 normalises 0-255 pixels with
``mean=(123.675, 116.28, 103.53)`` (TANet's last entry is 103.5) and ``std=(58.395, 57.12,
57.375)``: divided by 255, the ImageNet figures the zoo applies to pixels scaled to [0, 1].

Left out: TSM with non-local blocks (the zoo has no non-local block) and mmaction2's ``C2D``
backbone (``c2d_r50-in1k-pre_8xb32-*``, Recognizer3D), whose stem pools without padding and
which halves T after layer1; its ``-nopool`` sibling is a plain per-frame ResNet, and a tag.
"""
import dataclasses
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

__all__ = ['DATASETS', 'RELEASES', 'MMAction2Release', 'download_release', 'label_names', 'pretrained_cfgs',
           'convert_recognizer', 'recognizer_state_dict', 'release_of']

REPOSITORY = 'open-mmlab/mmaction2'
_URL = 'https://download.openmmlab.com/mmaction/v1.0/recognition/{method}/{config}/{config}_{stamp}.pth'
_MEAN = (123.675, 116.28, 103.53)
_STD = (58.395, 57.12, 57.375)


@dataclasses.dataclass(frozen=True)
class Dataset:
    id: str            # Hugging Face dataset id
    name: str
    labels: str        # the class names, one per line in class-index order, in csst_zoo/labels/


DATASETS = {
    'k400': Dataset('kinetics400', 'Kinetics-400', 'kinetics400.txt'),
    'sthv1': Dataset('something-something-v1', 'Something-Something V1', 'something-something-v1.txt'),
    'sthv2': Dataset('something-something-v2', 'Something-Something V2', 'something-something-v2.txt'),
}


@lru_cache(maxsize=None)
def label_names(dataset: str) -> Tuple[str, ...]:
    """The class names of a data set of ``DATASETS`` ('k400', 'sthv1', 'sthv2'), in the order of
    the class indices of mmaction2's annotation files (and so of its checkpoints' classifiers)."""
    if dataset not in DATASETS:
        raise ValueError(f'dataset must be one of {", ".join(DATASETS)}, got {dataset!r}')
    text = resources.files(__package__).joinpath('labels', DATASETS[dataset].labels).read_text(encoding='utf-8')
    return tuple(line for line in text.splitlines() if line)


@dataclasses.dataclass(frozen=True)
class MMAction2Release:
    """A recognizer of mmaction2's model zoo, its published accuracy and the protocol behind it.

    ``num_frames`` is the clip length of the published test (TSN: 25 frames, whatever it trained
    on); ``sampling`` is 'segments' (TSN: one frame from each of T equal segments) or 'dense'
    (T frames ``frame_interval`` apart); ``clips`` x ``crops`` are the test's views, ``resize`` the
    short side before the ``crop``-pixel crops. ``combine`` is how mmaction2 joins the views:
    TSNHead averages the features of every frame of every view before its classifier (so the
    logits: 'logits'), TSMHead gives each view its logits and the softmax is averaged ('softmax').
    """
    tag: str
    architecture: str
    config: str
    stamp: str         # the file name's date and first 8 hex digits of its sha256
    data: str          # a key of DATASETS
    num_frames: int
    top1: float
    top5: float
    clips: int
    crops: int
    sampling: str = 'segments'
    frame_interval: int = 1
    resize: int = 256
    crop: int = 224
    mean: Tuple[float, ...] = _MEAN
    combine: str = 'softmax'
    protocol_note: str = ''
    inflated: bool = False   # TSN's 2D weights inflated into another family: not trained as that family

    @property
    def dataset(self) -> str:
        """The Hugging Face id of its data set (as the model card names it)."""
        return DATASETS[self.data].id

    @property
    def dataset_name(self) -> str:
        return DATASETS[self.data].name

    @property
    def method(self) -> str:
        return self.config.split('_', 1)[0]

    @property
    def url(self) -> str:
        return _URL.format(method=self.method, config=self.config, stamp=self.stamp)

    @property
    def filename(self) -> str:
        return f'{self.config}_{self.stamp}.pth'

    @property
    def name(self) -> str:
        return f'{self.architecture}.{self.tag}'

    @property
    def views(self) -> str:
        """The published test protocol, in words."""
        sampled = (f'{self.num_frames} segments' if self.sampling == 'segments'
                   else f'{self.num_frames} frames every {self.frame_interval}')
        crops = {1: 'centre crop', 3: 'three crops', 10: 'ten crops'}[self.crops]
        return (f'{sampled}, {self.clips} clip{"s" if self.clips > 1 else ""} x {crops} of {self.crop} from short '
                f'side {self.resize}{self.protocol_note}')

    def video_cfg(self) -> Dict[str, Any]:
        """The cfg fields timm's ``PretrainedCfg`` has no place for: how the model samples frames
        and the protocol of its published figure."""
        return dict(sampling=self.sampling, frame_interval=self.frame_interval,
                    test_views=dict(clips=self.clips, crops=self.crops, resize=self.resize, crop=self.crop,
                                    combine=self.combine),
                    video_trained=not self.inflated)

    def pretrained_cfg(self) -> Dict[str, Any]:
        data = DATASETS[self.data]
        what = (f"TSN's {data.name} ResNet50 weights inflated into {self.architecture}" if self.inflated else
                f'{data.name}: top-1 {self.top1}%, top-5 {self.top5}% ({self.views})')
        return dict(
            url=self.url, custom_load='mmaction2', num_classes=len(label_names(self.data)),
            label_names=label_names(self.data), input_size=(3, self.num_frames, 224, 224),
            pool_size=(self.num_frames, 7, 7), crop_pct=224 / 256, interpolation='bilinear',
            mean=tuple(m / 255 for m in self.mean), std=tuple(s / 255 for s in _STD),
            first_conv='conv1', classifier='fc', license='apache-2.0',
            origin_url=f'https://github.com/{REPOSITORY}', description=f'mmaction2 {self.config}',
            notes=(what,))


def _tsn(tag, config, stamp, dataset, top1, top5, **protocol):
    return MMAction2Release(tag, 'c2d_resnet50', config, stamp, dataset, **{
        'num_frames': 25, 'clips': 1, 'crops': 10, 'combine': 'logits', **protocol}, top1=top1, top5=top5)


def _tsm(tag, config, stamp, dataset, frames, top1, top5, **protocol):
    return MMAction2Release(tag, 'tsm_resnet50', config, stamp, dataset, frames, top1, top5,
                            **{'clips': 1, 'crops': 10, **protocol})


def _tanet(tag, config, stamp, dataset, frames, top1, top5, **protocol):
    return MMAction2Release(tag, 'tam_resnet50', config, stamp, dataset, frames, top1, top5,
                            mean=(123.675, 116.28, 103.5), **protocol)


_TWICE = '; the clip at each segment centre and the one at its start'
_DENSE = '; 10 clips spread from the start (DenseSampleFrames) at test, the zoo spreads them as SampleFrames does'
# mmaction2 1.2.0's metafile.yml entries and config files (configs/recognition/{tsn,tsm,tanet,c2d}), ResNet50.
RELEASES: Tuple[MMAction2Release, ...] = (
    _tsn('k400_mmaction2_tsn_3seg', 'tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb',
         '20220906-cd10898e', 'k400', 72.83, 90.65),
    _tsn('k400_mmaction2_tsn_5seg', 'tsn_imagenet-pretrained-r50_8xb32-1x1x5-100e_kinetics400-rgb',
         '20220906-65d68713', 'k400', 73.8, 91.21),
    _tsn('k400_mmaction2_tsn_8seg', 'tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb',
         '20220906-2692d16c', 'k400', 74.12, 91.34),
    _tsn('k400_mmaction2_tsn_dense_5seg', 'tsn_imagenet-pretrained-r50_8xb32-dense-1x1x5-100e_kinetics400-rgb',
         '20220906-dcbc6e01', 'k400', 71.37, 89.67, sampling='dense', frame_interval=2, clips=10, crops=1,
         protocol_note=_DENSE),
    # The metafile says Kinetics-400 for these two; their configs, 174 classes and names say sthv2.
    _tsn('sthv2_mmaction2_tsn_8seg', 'tsn_imagenet-pretrained-r50_8xb32-1x1x8-50e_sthv2-rgb',
         '20230313-06ad7d03', 'sthv2', 35.51, 67.09),
    _tsn('sthv2_mmaction2_tsn_16seg', 'tsn_imagenet-pretrained-r50_8xb32-1x1x16-50e_sthv2-rgb',
         '20230221-85bcc1c3', 'sthv2', 36.91, 68.77),
    MMAction2Release('k400_mmaction2_8x8', 'c2d_resnet50', 'c2d_r50-in1k-pre-nopool_8xb32-8x8x1-100e_kinetics400-rgb',
                     '20221027-e0227b22', 'k400', 8, 73.44, 91.0, clips=10, crops=3, sampling='dense',
                     frame_interval=8, resize=224, combine='logits'),
    _tsm('k400_mmaction2_8f', 'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb',
         '20220831-64d69186', 'k400', 8, 73.18, 90.56),
    _tsm('k400_mmaction2_8f_100e', 'tsm_imagenet-pretrained-r50_8xb16-1x1x8-100e_kinetics400-rgb',
         '20220831-a6db1e5d', 'k400', 8, 73.22, 90.22),
    _tsm('k400_mmaction2_16f', 'tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_kinetics400-rgb',
         '20220831-042b1748', 'k400', 16, 75.12, 91.55),
    _tsm('k400_mmaction2_dense_8f', 'tsm_imagenet-pretrained-r50_8xb16-dense-1x1x8-50e_kinetics400-rgb',
         '20220831-f55d3c2b', 'k400', 8, 73.38, 90.78, sampling='dense', frame_interval=8, clips=10,
         protocol_note=_DENSE),
    _tsm('sthv2_mmaction2_8f', 'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb',
         '20230317-be0fc26e', 'sthv2', 8, 62.72, 87.7, clips=2, crops=3, crop=256, protocol_note=_TWICE),
    _tsm('sthv2_mmaction2_16f', 'tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_sthv2-rgb',
         '20230317-ec6696ad', 'sthv2', 16, 64.16, 88.61, clips=2, crops=3, crop=256, protocol_note=_TWICE),
    _tanet('k400_mmaction2_dense_8f', 'tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb',
           '20220919-a34346bc', 'k400', 8, 76.25, 92.41, sampling='dense', frame_interval=8, clips=10, crops=3,
           crop=256, protocol_note=_DENSE),
    _tanet('sthv1_mmaction2_8f', 'tanet_imagenet-pretrained-r50_8xb8-1x1x8-50e_sthv1-rgb',
           '20220906-de50e4ef', 'sthv1', 8, 49.71, 77.43, clips=2, crops=3, crop=256,
           protocol_note=_TWICE + '; 46.98 / 75.75 with 1 clip x centre crop of 224'),
    _tanet('sthv1_mmaction2_16f', 'tanet_imagenet-pretrained-r50_8xb6-1x1x16-50e_sthv1-rgb',
           '20220919-cc37e9b8', 'sthv1', 16, 50.95, 79.28, clips=1, crops=1),
)
# CSST-Net from a 2D net that has seen video: TSN's Kinetics-400 ResNet50 (8 segments), inflated.
RELEASES += tuple(
    dataclasses.replace(RELEASES[2], tag='k400_mmaction2_tsn_inflated', architecture=f'{family}_resnet50',
                        num_frames=8, clips=1, crops=1, inflated=True)
    for family in ('csst', 'c3dg', 'p3d'))


def pretrained_cfgs() -> Dict[str, Dict[str, Any]]:
    """``{'arch.tag': cfg}`` of every release, for the models' ``default_cfgs``."""
    return {r.name: r.pretrained_cfg() for r in RELEASES}


def release_of(name: str) -> Optional[MMAction2Release]:
    """The release a model name (``arch.tag``) or an mmaction2 file name stands for, if any."""
    return next((r for r in RELEASES if name == r.name or Path(name).name == r.filename), None)


def download_release(url: str, cache_dir=None) -> str:
    """The local path of the checkpoint at ``url``, downloaded once into timm's cache (torch.hub's
    ``checkpoints`` folder, or ``cache_dir``) and checked against the sha256 prefix that ends its
    name (``..._20220831-64d69186.pth``), as torch.hub does. A file that does not match is not
    kept; a URL whose name has no hash is refused."""
    from timm.models._hub import download_cached_file
    name = url.rsplit('/', 1)[-1]
    found = re.search(r'-([0-9a-f]{8,})\.pth$', name)
    if not found:
        raise ValueError(f'url {url!r}: its file name must end in -HASH.pth (the first hex digits of its sha256, '
                         "as mmaction2's and torch.hub's are), so that the download can be checked")
    try:
        return download_cached_file(url, check_hash=True, progress=False, cache_dir=cache_dir)
    except RuntimeError as e:
        if 'invalid hash value' not in str(e):
            raise
        raise ValueError(f'the file downloaded from {url} does not have the sha256 that its name says '
                         f'({found.group(1)}...): corrupt, truncated or replaced; it was not kept') from None


# mmaction2 key (after 'backbone.') -> timm ResNet key, in order.
_RENAMES = (
    (r'^cls_head\.fc_cls\.', 'fc.'),
    (r'^backbone\.', ''),
    (r'^(layer\d\.\d+)\.block\.', r'\1.'),                            # TANet's TABlock around each bottleneck
    (r'^(layer\d\.\d+)\.tam\.G\.', r'\1.conv2.tam.global_branch.'),   # its TAM, on the 3x3 conv's input
    (r'^(layer\d\.\d+)\.tam\.L\.', r'\1.conv2.tam.local_branch.'),
    (r'\.conv1\.conv\.net\.', '.conv1.conv.'),                        # ResNetTSM's shift around conv1
    (r'^conv1\.conv\.', 'conv1.'), (r'^conv1\.bn\.', 'bn1.'),         # the stem's ConvModule
    (r'\.conv(\d)\.conv\.', r'.conv\1.'), (r'\.conv(\d)\.bn\.', r'.bn\1.'),
    (r'\.downsample\.conv\.', '.downsample.0.'), (r'\.downsample\.bn\.', '.downsample.1.'),
)
_FAMILY_SIGNATURES = (('tam', r'\.tam\.[GL]\.'), ('tsm', r'\.conv1\.conv\.net\.'))
_ACCEPTED = 'accepted: mmaction2 TSN, TSM, TANet and C2D (-nopool) ResNet recognizers, which have 2D kernels'


def _family(state_dict: Dict[str, torch.Tensor], path) -> str:
    keys = list(state_dict)
    if any('non_local' in k for k in keys):
        raise ValueError(f'checkpoint {str(path)!r} has non-local blocks (TSM-NL), which csst-zoo does not have; '
                         + _ACCEPTED)
    if state_dict.get('backbone.conv1.conv.weight', torch.empty(0)).ndim == 5:
        raise ValueError(f'checkpoint {str(path)!r} is a 3D recognizer (its first conv has a 3D kernel: I3D, SlowFast, '
                         'X3D, ...); ' + _ACCEPTED)
    return next((name for name, pattern in _FAMILY_SIGNATURES if any(re.search(pattern, k) for k in keys)), 'c2d')


def recognizer_state_dict(path) -> Tuple[str, Dict[str, Any], Dict[str, torch.Tensor]]:
    """(architecture, model arguments, state dict) of an mmaction2 recognizer file: the state dict
    in timm's ResNet names with 2D kernels (and TAM's tensors), classifier included, ready for
    the zoo's 2D loading and inflation. Read without running code (``weights_only``). Raises
    ValueError when the file is not one of the accepted recognizers, naming what is accepted."""
    from .convert import _depth, read_official_checkpoint
    if Path(path).name.startswith('c2d_r50-in1k-pre_'):
        raise ValueError(f"checkpoint {str(path)!r} is mmaction2's C2D backbone (Recognizer3D), whose stem pools "
                         'without padding and halves T after layer1; csst-zoo converts its -nopool sibling '
                         '(c2d_resnet50.k400_mmaction2_8x8), a per-frame ResNet')
    state_dict = read_official_checkpoint(path)
    keys = list(state_dict)
    if not any(k.startswith('backbone.') for k in keys) or 'cls_head.fc_cls.weight' not in state_dict:
        raise ValueError(f'checkpoint {str(path)!r} is not an mmaction2 recognizer (tensors under backbone. and '
                         f'cls_head.fc_cls., as mmaction2 1.x saves them); for the authors\' TSM, GST or TAM files '
                         f'use csst-zoo convert tsm|gst|tam')
    family = _family(state_dict, path)
    converted = {}
    for key, tensor in state_dict.items():
        for pattern, replacement in _RENAMES:
            key = re.sub(pattern, replacement, key)
        converted[key] = tensor
    depth = _depth(list(converted), path)
    args = {'num_classes': converted['fc.weight'].shape[0]}
    if family == 'tam':
        args['num_frames'] = converted['layer1.0.conv2.tam.global_branch.0.weight'].shape[1]
    return f'{family}_resnet{depth}', args, converted


def convert_recognizer(path, num_frames: Optional[int] = None, **model_args):
    """(model in eval mode, ``converted_from``) of an mmaction2 recognizer file (TSN, TSM, TANet or
    C2D -nopool, as ``recognizer_state_dict`` reads it). A released file, known by its name, takes
    its tag's cfg: label names, mean and std, sampling and test protocol; any other file gets
    mmaction2's mean and std and ``num_frames`` (default 8; TANet's T comes from its weights)."""
    from .models import create_model
    arch, args, state_dict = recognizer_state_dict(path)
    release = release_of(Path(path).name)
    if release is not None and (release.inflated or release.architecture != arch):
        raise ValueError(f'checkpoint {str(path)!r} has the name of mmaction2\'s {release.config} '
                         f'({release.architecture}) but holds a {arch}: renamed or altered; rename it, or pass it '
                         'under another name to convert it as an unknown recognizer')
    args.update(model_args)
    if num_frames is not None:
        args['num_frames'] = num_frames
    overlay = dict(state_dict=state_dict)
    if release is None:
        overlay.update(num_classes=args['num_classes'], mean=tuple(m / 255 for m in _MEAN),
                       std=tuple(s / 255 for s in _STD), hf_hub_id=None, url=None, label_names=None,
                       origin_url=f'https://github.com/{REPOSITORY}', notes=(f'mmaction2 {Path(path).name}',))
    model = create_model(release.name if release else arch, pretrained=True, pretrained_cfg_overlay=overlay, **args)
    origin = dict(repository=REPOSITORY, file=Path(path).name, release=release.tag if release else None)
    return model.eval(), origin
