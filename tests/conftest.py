import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import csst_zoo
from csst_zoo.data.writers import write_video  # noqa: F401  (the tests' writer is the package's)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def paper_tables():
    """``benchmarks/flops.py --tables 1,2,3,4,5,models --format json``, run once for the session."""
    run = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'flops.py'), '--tables', '1,2,3,4,5,models',
                          '--format', 'json'], capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)['tables']


def _benchmarks_on_path() -> None:
    """benchmarks/ on the import path, as when a benchmark script runs (its helpers import by name)."""
    if str(ROOT / 'benchmarks') not in sys.path:
        sys.path.insert(0, str(ROOT / 'benchmarks'))


def load_helpers(name: str):
    """``benchmarks/NAME.py``, a helper module the benchmark scripts share (``_scenes``, ``_measure``)."""
    import importlib
    _benchmarks_on_path()
    return importlib.import_module(name)


def load_benchmark(name: str):
    """``benchmarks/NAME.py``, a benchmark script, as a module (for the tests of that benchmark)."""
    import importlib.util
    _benchmarks_on_path()
    spec = importlib.util.spec_from_file_location(f'benchmark_{name}', ROOT / 'benchmarks' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Random running statistics and affine weights in every BatchNorm (1d, 2d, 3d) of ``model``.

    A fresh BatchNorm in eval mode is the identity, and timm zero-initialises the last one of each
    residual branch, so that a fresh ResNet's branches add exactly 0: whatever a family's layer
    computes, the logits do not move. Tests of what weights and layers compute randomise them."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model


def family_layers(model: nn.Module) -> list:
    """The modules of ``model`` that its conv family built (``CSSTConv``, ``ShiftConv``, ...)."""
    return [m for m in model.modules() if isinstance(m, model.family.layer)]


def assert_kaiming_normal(weight: torch.Tensor) -> None:
    """``weight`` looks drawn by timm's ResNet init, Kaiming normal in fan-out mode for a ReLU:
    mean 0 and standard deviation sqrt(2 / (C_out * kernel volume)), within sampling error."""
    std = (2 / (weight.shape[0] * weight[0, 0].numel())) ** 0.5
    assert weight.std().item() == pytest.approx(std, rel=0.05)
    assert abs(weight.mean().item()) < 5 * std / weight.numel() ** 0.5


FAMILY_MARGIN = 0.1


def assert_family_moves_logits(model: nn.Module, x: torch.Tensor, margin: float = FAMILY_MARGIN) -> None:
    """Negating the output of every layer of the model's family changes its logits on ``x`` by more
    than ``margin`` of their norm (on a fresh timm-initialised model it changes them by exactly 0)."""
    layers = family_layers(model)
    assert layers, f'no layer of the {model.family.name} family in the model'
    with torch.no_grad():
        reference = model(x)
        hooks = [m.register_forward_hook(lambda module, args, out: -out) for m in layers]
        try:
            wrecked = model(x)
        finally:
            for h in hooks:
                h.remove()
    change = ((wrecked - reference).norm() / reference.norm()).item()
    assert change > margin, (f'negating the {model.family.name} layers changes the logits by {change:.3g} of their '
                             f'norm, not more than {margin}: the tests on this model cannot see the family')


def sensitive_model(name: str, clip_shape=(2, 3, 4, 32, 32), **kwargs) -> nn.Module:
    """A fresh model (eval mode) whose family layers move its logits: no zero-init of the residual
    branches, random BatchNorm statistics and affine weights, checked on a random clip of
    ``clip_shape`` by ``assert_family_moves_logits``. Every numerical test of a family uses it."""
    model = randomize_batchnorm(csst_zoo.create_model(name, zero_init_last=False, **kwargs)).eval()
    assert_family_moves_logits(model, torch.randn(clip_shape))
    return model


def frames_of(n: int, height: int = 32, width: int = 48, label: int = 0):
    """uint8 frames (n, H, W, 3) whose frame i has the grey value 20 i + label (its index is readable back)."""
    return np.stack([np.full((height, width, 3), min(255, 20 * i + label), np.uint8) for i in range(n)])


def write_frame_folder(folder, frames):
    from torchvision.io import write_jpeg
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames, 1):
        write_jpeg(torch.from_numpy(f).permute(2, 0, 1).contiguous(), str(folder / f'{i:05d}.jpg'), quality=95)
    return folder


JESTER_CLASSES = ['Swiping Left', 'Waving', 'Thumb Up']


@pytest.fixture(scope='session')
def jester(tmp_path_factory):
    """Jester layout: 3 classes, 9 training and 6 validation frame folders of 8 frames."""
    root = tmp_path_factory.mktemp('jester')
    (root / 'jester-v1-labels.csv').write_text('\n'.join(JESTER_CLASSES) + '\n')
    for split, n in (('train', 9), ('validation', 6)):
        rows = []
        for i in range(n):
            vid = f'{split}{i}'
            write_frame_folder(root / '20bn-jester-v1' / vid, frames_of(8, 24, 32, label=i % 3))
            rows.append(f'{vid};{JESTER_CLASSES[i % 3]}\n')
        (root / f'jester-v1-{split}.csv').write_text(''.join(rows))
    return root


def decode_all(path):
    """Every frame of a video file, decoded the plain way (the reference the streaming reader must equal)."""
    import av
    with av.open(str(path)) as container:
        return torch.stack([torch.from_numpy(f.to_ndarray(format='rgb24')).permute(2, 0, 1)
                            for f in container.decode(container.streams.video[0])])


SCENES = ['red room', 'blue sky']
FPS, CUT = 8, 6.0  # the two-scene video: 6 s of each scene at 8 frames/s


def scene_frames(scene: int, n: int, seed: int):
    """Frames of one scene: a reddish or a bluish noisy picture (``scene`` 0 or 1)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 60, (n, 32, 32, 3)).astype(np.uint8)
    frames[..., 0 if scene == 0 else 2] += 180
    return frames


@pytest.fixture(scope='session')
def two_scene_model():
    """A C2D-ResNet18 trained for a few seconds to tell the two scenes apart (4-frame clips, 32x32)."""
    return load_helpers('_scenes').scene_classifier({SCENES[0]: scene_frames(0, 32, 0),
                                                     SCENES[1]: scene_frames(1, 32, 1)})


@pytest.fixture(scope='session')
def two_scene_video(tmp_path_factory):
    frames = np.concatenate([scene_frames(0, int(CUT * FPS), 10), scene_frames(1, int(CUT * FPS), 11)])
    return write_video(tmp_path_factory.mktemp('two_scenes') / 'two_scenes.mp4', frames, rate=FPS)
