"""Fast-path layouts (channels_last_3d, bf16 autocast, torch.compile) and ONNX / OpenVINO export."""
import sys

import numpy as np
import pytest
import torch

import csst_zoo
from csst_zoo import export as export_module
from csst_zoo.cli import main as cli_main
from csst_zoo.export import ONNX_OPSET, export_model, load_exported
from conftest import sensitive_model

FAMILIES = list(csst_zoo.FAMILIES)
FRAMES, SIZE = 4, 32


def small_model(family, **kwargs):
    """The family's smallest model (GST and TAM come as ResNet50 and up), with every family layer
    moving the logits (``conftest.sensitive_model``), in eval mode."""
    depth = min(csst_zoo.FAMILIES[family].depths)
    return sensitive_model(f'{family}_resnet{depth}', clip().shape, num_classes=7, num_frames=FRAMES, **kwargs)


def clip(batch=2, frames=FRAMES):
    return torch.randn(batch, 3, frames, SIZE, SIZE)


@pytest.mark.parametrize('family', FAMILIES)
def test_channels_last_and_bf16_match_fp32(family):
    model, x = small_model(family), clip()
    with torch.inference_mode():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = model(x)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).norm() / ref.norm() < 2e-2


@pytest.mark.slow
@pytest.mark.parametrize('family', FAMILIES)
def test_compiles_without_graph_break(family):
    torch._dynamo.reset()  # every model compiles timm's ResNet.forward: no recompile limit across tests
    model, x = small_model(family), clip()
    compiled = torch.compile(model, fullgraph=True)  # fullgraph: a graph break is an error
    with torch.inference_mode():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('grad', [False, True], ids=['inference', 'training'])
def test_compiled_graph_takes_the_3d_ops_for_inference(grad):
    """Compiled for inference, every BatchNorm reads its conv's output directly, the pattern
    inductor's freezing folds into the conv; frame views between them (the eager form) would hide
    it. Compiled with autograd, the per-frame ops stay 2D ops on the frames, as in eager."""
    torch._dynamo.reset()
    graphs = []

    def keep_graph(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    model = csst_zoo.create_model('c2d_resnet18', num_classes=7, num_frames=FRAMES).eval()
    with torch.set_grad_enabled(grad):
        torch.compile(model, backend=keep_graph, fullgraph=True)(clip())
    nodes = list(graphs[0].graph.nodes)
    norms = [n for n in nodes if n.target is torch.nn.functional.batch_norm]
    assert len(norms) == 20
    convs = {n.target for n in nodes if n.target in (torch.conv2d, torch.conv3d)}
    assert convs == ({torch.conv2d} if grad else {torch.conv3d})
    assert all(n.args[0].target is torch.conv3d for n in norms) is not grad
    torch._dynamo.reset()


@pytest.mark.parametrize('family', FAMILIES)
def test_onnx_export_matches_eager_with_dynamic_batch_and_frames(family, tmp_path):
    onnx = pytest.importorskip('onnx')
    model = small_model(family)
    path = export_model(model, tmp_path / 'model.onnx', size=SIZE)
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ('', 'ai.onnx')] == [ONNX_OPSET]
    # The eager-only forms stay out of the file: frame folds (two Transposes per conv) and lerp
    # (written as a Where over two branches) made onnxruntime and OpenVINO slow (README).
    ops = [node.op_type for node in proto.graph.node]
    assert not set(ops) & {'Transpose', 'Where'}
    # PFFF takes one mean (of U2 - U1) per CSST conv, TAM one (over H, W) per module, besides the head's pool.
    means = sum(isinstance(m, (csst_zoo.CSSTConv, csst_zoo.TemporalAdaptiveModule)) for m in model.modules())
    assert ops.count('ReduceMean') == means + 1
    run = load_exported(path)
    other_length = FRAMES if model.fixed_num_frames else FRAMES + 4  # TAM's file takes its num_frames only
    for x in (clip(batch=1), clip(batch=3, frames=other_length)):
        with torch.inference_mode():
            np.testing.assert_allclose(run(x.numpy()), model(x).numpy(), rtol=1e-4, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.onnx']
    assert model.training is False  # export leaves the mode as it found it


def test_openvino_export_matches_eager(tmp_path):
    pytest.importorskip('openvino')
    model = small_model('csst', alpha=0.25, groups=4).train()
    path = export_model(model, tmp_path / 'csst.xml', size=SIZE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['csst.bin', 'csst.xml']
    assert model.training  # restored
    x = clip(batch=2, frames=FRAMES + 2)
    with torch.inference_mode():
        np.testing.assert_allclose(load_exported(path)(x), model.eval()(x).numpy(), rtol=1e-4, atol=1e-4)


def test_export_format_errors(tmp_path):
    model = small_model('c2d')
    with pytest.raises(ValueError, match=r"format must be one of \['onnx', 'openvino'\], got 'tflite'"):
        export_model(model, tmp_path / 'm.onnx', 'tflite')
    with pytest.raises(ValueError, match='cannot tell the format'):
        export_model(model, tmp_path / 'm.pt')
    with pytest.raises(ValueError, match=r"ending in '.xml'"):
        export_model(model, tmp_path / 'm.onnx', 'openvino')
    with pytest.raises(ValueError, match='frames must be a positive integer'):
        export_model(model, tmp_path / 'm.onnx', frames=0)
    assert list(tmp_path.iterdir()) == []


def test_missing_extra_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # makes `import onnxruntime` fail
    with pytest.raises(ImportError, match=r"pip install 'csst-zoo\[export\]'"):
        export_model(small_model('c2d'), tmp_path / 'm.onnx')
    assert list(tmp_path.iterdir()) == []


def test_failed_verification_writes_nothing(tmp_path, monkeypatch):
    real = export_module.load_exported
    monkeypatch.setattr(export_module, 'load_exported', lambda path, **kw: lambda x: real(path, **kw)(x) + 1e-3)
    (tmp_path / 'm.onnx').write_text('old')
    with pytest.raises(RuntimeError, match='differ from eager PyTorch fp32 by up to 0.001'):
        export_model(small_model('csst'), tmp_path / 'm.onnx', size=SIZE)
    assert [p.name for p in tmp_path.iterdir()] == ['m.onnx']
    assert (tmp_path / 'm.onnx').read_text() == 'old'  # the old file is untouched


def test_wrong_logit_shape_is_named(tmp_path, monkeypatch):
    real = export_module.load_exported
    monkeypatch.setattr(export_module, 'load_exported', lambda path, **kw: lambda x: real(path, **kw)(x)[:1])
    with pytest.raises(RuntimeError, match=r'returned logits of shape \(1, 7\), eager PyTorch \(2, 7\)'):
        export_model(small_model('c2d'), tmp_path / 'm.onnx', size=SIZE)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        export_model(small_model('c2d'), tmp_path / 'file' / 'm.onnx', size=SIZE)


def test_cli_export(tmp_path, capsys):
    ckpt = tmp_path / 'csst.pth'
    torch.save(small_model('csst', alpha=0.25).state_dict(), ckpt)
    out = tmp_path / 'csst.onnx'
    args = ['export', 'csst_resnet18', '-o', str(out), '--frames', '2', '--size', str(SIZE),
            '--checkpoint', str(ckpt), '--num-classes', '7', '--model-kwargs', 'alpha=0.25']
    assert cli_main(args) == 0
    assert 'checked against eager PyTorch' in capsys.readouterr().out
    assert out.is_file()
    out.unlink()
    # a checkpoint of another architecture: a clear error naming a key, no file
    assert cli_main(args[:-2]) == 2
    assert 'csst.onnx' not in [p.name for p in tmp_path.iterdir()]
    assert "checkpoint does not fit csst_resnet18: 'layer1.0.conv1.spatial.weight' has shape" in capsys.readouterr().err


def test_cli_export_bad_format(capsys):
    with pytest.raises(SystemExit):
        cli_main(['export', 'c2d_resnet18', '-o', 'x.onnx', '--format', 'tflite'])
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
