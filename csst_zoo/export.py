"""Export to ONNX and OpenVINO, verified against eager PyTorch, and run the exported files.

    from csst_zoo.export import export_model
    export_model(model, 'csst_r50.onnx')              # ONNX opset 17, dynamic batch and T axes
    export_model(model, 'csst_r50.xml', 'openvino')   # OpenVINO IR: .xml + .bin

Every export checks itself before the file appears: ``onnx.checker``, the opset actually written,
and logits of onnxruntime (and OpenVINO for that format) against eager fp32 on a random clip of
another batch size and clip length than the traced one, so the dynamic axes are checked too.
onnx, onnxruntime and openvino come with ``pip install 'csst-zoo[export]'``.
"""
import importlib
import warnings
from pathlib import Path

import numpy as np
import torch

from ._checks import check_positive_int
from ._io import staged_files

__all__ = ['EXPORT_FORMATS', 'ONNX_OPSET', 'export_model', 'load_exported', 'require']

EXPORT_FORMATS = {'onnx': '.onnx', 'openvino': '.xml'}
ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = 'video', 'logits'


def require(module: str, purpose: str):
    """Import an optional dependency or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{purpose} needs the package '{module}', which is not installed; "
            f"install the export extra: pip install 'csst-zoo[export]'") from None


def _example_clip(model, batch: int, frames, size):
    channels, t, h, w = model.pretrained_cfg.get('input_size', (model.in_chans, 8, 224, 224))
    frames = t if frames is None else frames
    h, w = (h, w) if size is None else (size, size)
    for name, value in (('batch', batch), ('frames', frames), ('size', h), ('size', w)):
        check_positive_int(name, value)
    device = next(model.parameters()).device
    return torch.randn(batch, model.in_chans, frames, h, w, device=device)


def _export_onnx(model, path: Path, clip: torch.Tensor, opset: int, dynamic_frames: bool) -> None:
    input_axes = {0: 'batch', 2: 'frames'} if dynamic_frames else {0: 'batch'}
    # The TorchScript exporter writes the opset it is asked for; the default (dynamo) exporter of
    # torch >= 2.9 has no opset-17 translations and silently writes opset 18.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(
            model, (clip,), str(path), dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: input_axes, OUTPUT_NAME: {0: 'batch'}})
    onnx = require('onnx', 'ONNX export')
    onnx.checker.check_model(str(path), full_check=True)
    written = {o.domain: o.version for o in onnx.load(str(path), load_external_data=False).opset_import}
    if written.get('', written.get('ai.onnx')) != opset:
        raise RuntimeError(f'the exporter wrote opset {written} instead of the requested {opset}')


def load_exported(path, threads: int = None, precision: str = 'f32', spin: bool = False):
    """A function ``clip (numpy or tensor) -> logits (numpy)`` running an exported file.

    ``.onnx`` runs in onnxruntime (CPU), ``.xml`` in OpenVINO (CPU, ``precision`` 'f32' or
    'bf16'; OpenVINO's own default on CPUs with bf16 units is bf16). ``threads`` defaults to
    the runtime's choice. ``spin`` lets onnxruntime's idle worker threads busy-wait for the
    next call: slightly lower latency back to back, but they take the cores from any other
    work in the meantime (off by default).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'exported model {path} does not exist')
    if path.suffix == '.onnx':
        ort = require('onnxruntime', 'running an ONNX file')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.add_session_config_entry('session.intra_op.allow_spinning', '1' if spin else '0')
        session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
        return lambda clip: session.run(None, {INPUT_NAME: np.asarray(clip, dtype=np.float32)})[0]
    if path.suffix == '.xml':
        if precision not in ('f32', 'bf16'):
            raise ValueError(f"precision must be 'f32' or 'bf16', got {precision!r}")
        ov = require('openvino', 'running an OpenVINO model')
        config = {'INFERENCE_PRECISION_HINT': precision, 'PERFORMANCE_HINT': 'LATENCY'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        compiled = ov.Core().compile_model(str(path), 'CPU', config)
        request = compiled.create_infer_request()
        return lambda clip: request.infer({0: np.asarray(clip, dtype=np.float32)})[0].copy()
    raise ValueError(f"cannot run {path}: the suffix must be '.onnx' (onnxruntime) or '.xml' (OpenVINO)")


def _verify(model, files: dict, clip: torch.Tensor, atol: float, dynamic_frames: bool) -> None:
    # Another batch size and clip length than the traced clip: checks the dynamic axes too.
    frames = clip.shape[2] + 2 if dynamic_frames else clip.shape[2]
    check = torch.randn(clip.shape[0] + 1, clip.shape[1], frames, *clip.shape[3:], device=clip.device)
    with torch.inference_mode():
        ref = model(check).float().cpu().numpy()
    for runtime, run in files.items():
        out = run(check.cpu().numpy())
        if out.shape != ref.shape:
            raise RuntimeError(
                f'export check failed: {runtime} returned logits of shape {out.shape}, eager PyTorch {ref.shape}, '
                f'for a clip of shape {tuple(check.shape)}; no file was written')
        if not np.allclose(out, ref, rtol=atol, atol=atol):
            raise RuntimeError(
                f'export check failed: {runtime} logits differ from eager PyTorch fp32 by up to '
                f'{float(np.abs(out - ref).max()):.3g} (allowed {atol:g}) on a clip of shape {tuple(check.shape)}; '
                f'no file was written')


def export_model(
        model: torch.nn.Module,
        path,
        format: str = None,
        frames: int = None,
        size: int = None,
        opset: int = ONNX_OPSET,
        verify: bool = True,
        atol: float = 1e-4,
) -> Path:
    """Export ``model`` to ``path`` as ONNX (``.onnx``) or OpenVINO IR (``.xml`` + ``.bin``).

    ``format`` defaults to the one the suffix names. The traced clip is
    ``(1, C, frames, size, size)``, by default the model's ``pretrained_cfg['input_size']``;
    batch and T are dynamic axes in the file (time is never strided, so every family takes any
    T, except TAM, whose file takes the model's ``num_frames``). Returns the path. With
    ``verify`` (default) the export runs in its runtime and must
    match eager fp32 to ``atol`` (and as relative tolerance), or nothing is written.
    """
    path = Path(path)
    if format is None:
        format = next((f for f, suffix in EXPORT_FORMATS.items() if path.suffix == suffix), None)
        if format is None:
            raise ValueError(f"cannot tell the format from {path.name!r}: give format= one of "
                             f"{sorted(EXPORT_FORMATS)} or a path ending in .onnx or .xml")
    if format not in EXPORT_FORMATS:
        raise ValueError(f'format must be one of {sorted(EXPORT_FORMATS)}, got {format!r}')
    if path.suffix != EXPORT_FORMATS[format]:
        raise ValueError(
            f"a {format} export is written to a path ending in {EXPORT_FORMATS[format]!r}, got {path.name!r}")
    require('onnx', f'{format} export')
    require('onnxruntime', f'{format} export')
    ov = require('openvino', 'OpenVINO export') if format == 'openvino' else None
    clip = _example_clip(model, 1, frames, size)
    dynamic_frames = not getattr(model, 'fixed_num_frames', None)  # TAM is built for one clip length
    was_training = model.training
    model.eval()
    try:
        if format == 'onnx':
            with staged_files(path) as stage:
                _export_onnx(model, stage / path.name, clip, opset, dynamic_frames)
                if verify:
                    _verify(model, {'onnxruntime': load_exported(stage / path.name)}, clip, atol, dynamic_frames)
        else:
            with staged_files(path, path.with_suffix('.bin')) as stage:
                onnx_file = stage / 'model.onnx'
                _export_onnx(model, onnx_file, clip, opset, dynamic_frames)
                # fp32 weights: save_model's default compresses them to fp16.
                ov.save_model(ov.convert_model(str(onnx_file)), str(stage / path.name), compress_to_fp16=False)
                if verify:
                    _verify(model, {'onnxruntime': load_exported(onnx_file),
                                    'OpenVINO': load_exported(stage / path.name)}, clip, atol, dynamic_frames)
    finally:
        model.train(was_training)
    return path
