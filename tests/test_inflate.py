"""ImageNet inflation, on 2D weights the tests make: a random timm ResNet saved to a file."""
import pytest
import safetensors.torch
import timm
import torch

import csst_zoo
from csst_zoo import C3DConv
from conftest import assert_kaiming_normal, randomize_batchnorm


@pytest.fixture(scope='module')
def resnet_files(tmp_path_factory):
    """depth -> (2D timm model, .pth path, .safetensors path)."""
    torch.manual_seed(0)
    out = {}
    root = tmp_path_factory.mktemp('weights')
    for depth in (18, 50):
        ref = randomize_batchnorm(timm.create_model(f'resnet{depth}')).eval()
        pth, st = root / f'resnet{depth}.pth', root / f'resnet{depth}.safetensors'
        torch.save(ref.state_dict(), pth)
        safetensors.torch.save_file(ref.state_dict(), st)
        out[depth] = ref, pth, st
    return out


def frame_logits_mean(ref, clip):
    n, c, t, h, w = clip.shape
    frames = clip.transpose(1, 2).reshape(n * t, c, h, w)
    return ref(frames).reshape(n, t, -1).mean(1)


def assert_same_function(model, ref, clip):
    """Video logits == per-frame 2D logits averaged over T, to 1e-4. In float64, so the check
    measures the weights, not the summation order of the 2D and 3D conv kernels."""
    with torch.no_grad():
        out = model.double()(clip.double())
        expected = frame_logits_mean(ref.double(), clip.double())
    ref.float()
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('depth', [18, 50])
def test_c2d_is_the_2d_net_per_frame(resnet_files, depth):
    ref, pth, _ = resnet_files[depth]
    model = csst_zoo.create_model(f'c2d_resnet{depth}', pretrained=True,
                                  pretrained_cfg_overlay=dict(file=str(pth))).eval()
    assert_same_function(model, ref, torch.randn(2, 3, 4, 64, 64))


def test_csst_inflation(resnet_files):
    ref, _, st = resnet_files[50]
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(csst_zoo.create_model('csst_resnet50', pretrained=True, num_classes=174,
                                            pretrained_cfg_overlay=dict(file=str(st))))
    model, other_seed = models
    other_state = other_seed.state_dict()
    src = ref.state_dict()
    temporal = []
    for key, value in model.state_dict().items():
        if key.endswith(('.temporal.weight', '.pointwise.weight')):
            temporal.append((key, value))
        elif key.endswith('.spatial.weight'):
            conv = model.get_submodule(key.rsplit('.', 2)[0])
            w2d = src[key.replace('.spatial.weight', '.weight')]
            torch.testing.assert_close(value, w2d[:, conv.temporal_channels:].unsqueeze(2), rtol=0, atol=0)
        elif key.startswith('fc.'):
            assert value.shape[0] == 174  # num_classes != 1000 drops the ImageNet head
        else:
            expected = src[key].unsqueeze(2) if value.ndim == 5 else src[key]
            assert torch.equal(value, expected), key
    # the temporal branches start random: timm's init, and another seed draws other weights
    assert len(temporal) == 2 * 16
    for key, value in temporal:
        assert_kaiming_normal(value)
        assert not torch.allclose(value, other_state[key]), key


def test_c3d_static_clip_gives_the_2d_response(resnet_files):
    ref, pth, _ = resnet_files[50]
    model = csst_zoo.create_model('c3d_resnet50', pretrained=True, pretrained_cfg_overlay=dict(file=str(pth)))
    conv = model.layer1[0].conv2
    assert isinstance(conv, C3DConv)
    frame = torch.randn(1, 64, 14, 14)
    clip = frame.unsqueeze(2).repeat(1, 1, 5, 1, 1)
    with torch.no_grad():
        out = conv(clip)
        expected = ref.layer1[0].conv2(frame)
    for t in (1, 2, 3):  # interior frames; the edges see zero padding
        torch.testing.assert_close(out[:, :, t], expected, rtol=1e-4, atol=1e-4)


def test_c3dg_keeps_block_diagonal(resnet_files):
    ref, pth, _ = resnet_files[50]
    model = csst_zoo.create_model('c3dg_resnet50', pretrained=True, pretrained_cfg_overlay=dict(file=str(pth)))
    w = model.layer1[0].conv2.weight  # (64, 32, 3, 3, 3), groups=2
    w2d = ref.layer1[0].conv2.weight
    torch.testing.assert_close(w[:32, :, 1], w2d[:32, :32] / 3)
    torch.testing.assert_close(w[32:, :, 0], w2d[32:, 32:] / 3)


def test_p3d_starts_as_the_2d_net(resnet_files):
    ref, pth, _ = resnet_files[18]
    model = csst_zoo.create_model('p3d_resnet18', pretrained=True, pretrained_cfg_overlay=dict(file=str(pth))).eval()
    assert_same_function(model, ref, torch.randn(1, 3, 3, 64, 64))


def test_checkpoint_path_and_torchvision_format(resnet_files, tmp_path):
    ref, _, _ = resnet_files[18]
    # torchvision-style file: a wrapped, DDP-prefixed state dict without num_batches_tracked.
    sd = {f'module.{k}': v for k, v in ref.state_dict().items() if not k.endswith('num_batches_tracked')}
    path = tmp_path / 'tv_resnet18.pth'
    torch.save({'state_dict': sd}, path)
    model = csst_zoo.create_model('c2d_resnet18', checkpoint_path=str(path)).eval()
    assert_same_function(model, ref, torch.randn(1, 3, 2, 32, 32))


def test_in_chans_adapts_the_first_conv(resnet_files):
    ref, pth, _ = resnet_files[18]
    model = csst_zoo.create_model('c2d_resnet18', pretrained=True, in_chans=1,
                                  pretrained_cfg_overlay=dict(file=str(pth)))
    torch.testing.assert_close(model.conv1.weight[:, 0, 0], ref.conv1.weight.sum(1))


def test_wrong_architecture_names_the_key(resnet_files):
    _, pth18, _ = resnet_files[18]
    with pytest.raises(ValueError, match="2D checkpoint does not fit csst_resnet50: 'layer1.0.conv1.weight' has shape"):
        csst_zoo.create_model('csst_resnet50', pretrained=True, pretrained_cfg_overlay=dict(file=str(pth18)))


def test_wrong_shape_names_the_key(resnet_files, tmp_path):
    ref, _, _ = resnet_files[18]
    sd = dict(ref.state_dict())
    sd['layer2.0.bn1.weight'] = torch.ones(3)
    path = tmp_path / 'bad.pth'
    torch.save(sd, path)
    with pytest.raises(ValueError, match="'layer2.0.bn1.weight' has shape \\(3,\\), the model needs \\(128,\\)"):
        csst_zoo.create_model('csst_resnet18', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))


def test_truncated_file_fails_cleanly(resnet_files, tmp_path):
    _, pth, st = resnet_files[18]
    for src in (pth, st):
        bad = tmp_path / ('cut' + src.suffix)
        bad.write_bytes(src.read_bytes()[:1000])
        with pytest.raises(RuntimeError, match='could not load pretrained weights for c2d_resnet18.tv_in1k from file'):
            csst_zoo.create_model('c2d_resnet18', pretrained=True, pretrained_cfg_overlay=dict(file=str(bad)))


def test_missing_file_and_offline_hub_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match='pretrained_cfg_overlay=dict\\(file="PATH"\\)'):
        csst_zoo.create_model('c2d_resnet18', pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(tmp_path / 'nope.pth')))
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'empty-cache'))
    monkeypatch.setattr('huggingface_hub.constants.HF_HUB_OFFLINE', True)
    with pytest.raises(RuntimeError, match="Hugging Face Hub id 'timm/resnet18.tv_in1k'.*checkpoint_path="):
        csst_zoo.create_model('c2d_resnet18', pretrained=True)


def test_checkpoint_path_video_checkpoint_and_errors(tmp_path):
    trained = csst_zoo.create_model('csst_resnet18', num_classes=5).eval()
    path = tmp_path / 'video.pth'
    torch.save(trained.state_dict(), path)
    loaded = csst_zoo.create_model('csst_resnet18', num_classes=5, checkpoint_path=str(path)).eval()
    clip = torch.randn(1, 3, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(clip), trained(clip))
    with pytest.raises(ValueError,
                       match="checkpoint does not fit c3d_resnet18: it has no tensor 'layer1.0.conv1.weight'"):
        csst_zoo.create_model('c3d_resnet18', num_classes=5, checkpoint_path=str(path))
    with pytest.raises(ValueError, match="'fc.weight' has shape \\(5, 512\\), the model needs \\(7, 512\\)"):
        csst_zoo.create_model('csst_resnet18', num_classes=7, checkpoint_path=str(path))
    with pytest.raises(FileNotFoundError, match="checkpoint_path '.*missing.pth' does not exist"):
        csst_zoo.create_model('csst_resnet18', checkpoint_path=str(tmp_path / 'missing.pth'))
    (tmp_path / 'cut.pth').write_bytes(path.read_bytes()[:5000])
    with pytest.raises(RuntimeError, match='could not read checkpoint_path .*cut.pth'):
        csst_zoo.create_model('csst_resnet18', checkpoint_path=str(tmp_path / 'cut.pth'))
