"""TSM, GST and TAM: each module's math on small tensors, and their inflation."""
import pytest
import torch
import torch.nn.functional as F

import csst_zoo
from csst_zoo import GSTConv, ShiftConv, TAMConv, TemporalAdaptiveModule, temporal_shift
from csst_zoo.families import FAMILIES
from conftest import FAMILY_MARGIN, assert_kaiming_normal, n_params, randomize_batchnorm


def test_shift_directions_and_zero_ends():
    # 16 channels, fold_div 8: channels 0-1 take frame t+1, 2-3 take frame t-1, 4-15 stay.
    x = torch.arange(1.0, 5.0).reshape(1, 1, 4, 1, 1).repeat(1, 16, 1, 1, 1)  # frame t holds t + 1
    y = temporal_shift(x, fold_div=8)[0, :, :, 0, 0]
    assert y[0].tolist() == y[1].tolist() == [2, 3, 4, 0]  # from the next frame, zero at the end
    assert y[2].tolist() == y[3].tolist() == [0, 1, 2, 3]  # from the previous frame, zero at the start
    assert all(y[c].tolist() == [1, 2, 3, 4] for c in range(4, 16))
    assert temporal_shift(torch.ones(1, 16, 1, 2, 2)).sum() == 12 * 4  # T=1: both folds are zeros


def test_shift_gradient_keeps_the_layout_and_equals_the_graph_forms(monkeypatch):
    # Eager shifts by padding; the ONNX form slices and concatenates; the compiled form chooses per
    # channel between the clip and its shifts. Same values, same gradient, and the eager gradient
    # stays channels_last_3d (added to the shortcut's gradient without a strided copy).
    x = torch.randn(2, 16, 5, 3, 3).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    weight = torch.randn(2, 16, 5, 3, 3).contiguous(memory_format=torch.channels_last_3d)
    y = temporal_shift(x)
    grad, = torch.autograd.grad((y * weight).sum(), x)
    assert grad.is_contiguous(memory_format=torch.channels_last_3d)
    for namespace, builder in ((torch.onnx, 'is_in_onnx_export'), (torch.compiler, 'is_compiling')):
        with monkeypatch.context() as patched:
            patched.setattr(namespace, builder, lambda: True)
            y_graph = temporal_shift(x)
            grad_graph, = torch.autograd.grad((y_graph * weight).sum(), x)
        assert torch.equal(y, y_graph) and torch.equal(grad, grad_graph), builder


def test_shift_keeps_the_layout_of_the_clip():
    # channels_last_3d, and the frames layout (N, T, C, H, W) that per-frame ops leave a contiguous
    # clip in: the shifted clip is laid out as its input, so the next conv's frames are a free view.
    from csst_zoo.layers import from_frames, to_frames
    x = torch.randn(2, 16, 5, 3, 3)
    expected = temporal_shift(x)
    for clip in (x.contiguous(memory_format=torch.channels_last_3d), from_frames(to_frames(x).contiguous(), 2)):
        shifted = temporal_shift(clip)
        assert torch.equal(shifted, expected) and shifted.stride() == clip.stride()


def test_shift_conv_is_the_conv_of_the_shifted_clip():
    conv = ShiftConv(16, 8, kernel_size=1)
    x = torch.randn(2, 16, 5, 3, 3)
    expected = torch.einsum('oc,nct...->not...', conv.weight[:, :, 0, 0, 0], temporal_shift(x))
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_gst_splits_spatial_first_and_concatenates_spatial_first():
    conv = GSTConv(8, 8)  # alpha 4, beta 2: spatial reads channels 0-3 and writes 6, temporal 4-7 -> 2
    assert (conv.spatial.in_channels, conv.spatial.out_channels) == (4, 6)
    assert (conv.temporal.in_channels, conv.temporal.out_channels) == (4, 2)
    x = torch.randn(1, 8, 3, 5, 5)
    y = conv(x)
    torch.testing.assert_close(y[:, :6], F.conv3d(x[:, :4], conv.spatial.weight, padding=(0, 1, 1)))
    torch.testing.assert_close(y[:, 6:], F.conv3d(x[:, 4:], conv.temporal.weight, padding=1))
    large = GSTConv(8, 8, beta=1)  # GST-Large: both read every channel
    assert large.spatial.in_channels == large.temporal.in_channels == 8
    assert n_params(large) == FAMILIES['c3dg'].conv_params(8, 8)  # the paper's C3D-g row


def reference_tam(module: TemporalAdaptiveModule, x: torch.Tensor) -> torch.Tensor:
    """TAM as its paper states it, written independently: per sample and channel, a softmax kernel of
    3 taps from the global branch and a sigmoid weight per frame from the local branch; the weighted
    frames are convolved over time with the kernel (zero padding)."""
    n, c, t = x.shape[:3]
    pooled = x.mean(dim=(3, 4))
    kernel = module.global_branch(pooled.reshape(n * c, t))           # (N*C, 3)
    weighted = x * module.local_branch(pooled)[..., None, None]
    frames = weighted.reshape(1, n * c, t, -1)
    out = F.conv2d(frames, kernel.reshape(n * c, 1, 3, 1), padding=(1, 0), groups=n * c)
    return out.reshape(x.shape)


def test_tam_matches_its_definition_and_kernel_shapes():
    tam = TemporalAdaptiveModule(8, num_frames=5).eval()
    assert tam.global_branch[0].weight.shape == (10, 5) and tam.global_branch[3].weight.shape == (3, 10)
    assert tam.local_branch[0].weight.shape == (2, 8, 3) and tam.local_branch[3].weight.shape == (8, 2, 1)
    with torch.no_grad():
        for m in tam.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 8, 5, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(tam(x), reference_tam(tam, x), rtol=1e-5, atol=1e-6)
        # Hand-set branches: BN outputs 1 whatever the clip, so the global kernel is one-hot at the
        # tap given and the local weights are sigmoid(2000) = 1.
        for bn in (tam.global_branch[1], tam.local_branch[1]):
            bn.running_mean.zero_(), bn.running_var.fill_(1.0), bn.weight.zero_(), bn.bias.fill_(1.0)
        tam.local_branch[3].weight.fill_(1e3)
        for tap, expected in ((1, x), (0, F.pad(x[:, :, :-1], (0, 0, 0, 0, 1, 0)))):  # tap 0 reads frame t-1
            tam.global_branch[3].weight.zero_()
            tam.global_branch[3].weight[tap] = 100.0
            torch.testing.assert_close(tam(x), expected, rtol=1e-4, atol=1e-4)


def test_tam_conv_counts_its_params_and_refuses_other_lengths():
    conv = TAMConv(64, 64, num_frames=8)
    # by hand: 3x3 conv 9 * 64 * 64 = 36864; global branch Linear(8, 16) 128 + BN(16) 32 + Linear(16, 3) 48;
    # local branch Conv1d(64, 16, 3) 3072 + BN(16) 32 + Conv1d(16, 64, 1) 1024
    assert n_params(conv) == FAMILIES['tam'].conv_params(64, 64, num_frames=8) == 36864 + 208 + 4128
    with pytest.raises(ValueError, match='num_frames=8 frames.*T=6'):
        conv(torch.randn(1, 64, 6, 4, 4))


@pytest.mark.parametrize('name', ['tsm', 'gst', 'tam'])
@pytest.mark.parametrize('c_in, c_out', [(64, 64), (128, 256)])
def test_rival_formulas_match_counts(name, c_in, c_out):
    family = FAMILIES[name]
    frames = dict(num_frames=8) if family.fixed_num_frames else {}
    assert n_params(family.layer(c_in, c_out, kernel_size=3, **frames)) == family.conv_params(c_in, c_out)


def random_resnet50(folder):
    """A timm ResNet50 with random weights and BatchNorm, and the file it is saved in."""
    import timm
    torch.manual_seed(0)
    ref = randomize_batchnorm(timm.create_model('resnet50')).eval()
    torch.save(ref.state_dict(), folder / 'resnet50.pth')
    return ref, folder / 'resnet50.pth'


@pytest.fixture(scope='module')
def resnet50_file(tmp_path_factory):
    return random_resnet50(tmp_path_factory.mktemp('r50'))


def inflated(name, path, seed=0):
    torch.manual_seed(seed)
    return csst_zoo.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))).eval()


def test_inflated_tsm_is_the_2d_net_with_the_shift_removed(resnet50_file):
    ref, path = resnet50_file
    tsm, c2d = inflated('tsm_resnet50', path), inflated('c2d_resnet50', path)
    src, tsm_state = ref.state_dict(), tsm.state_dict()
    assert tsm_state.keys() == src.keys()
    for key, value in tsm_state.items():  # every tensor is the 2D one, kernels as their 1 x k x k form
        assert torch.equal(value, src[key].unsqueeze(2) if value.ndim == 5 else src[key]), key
    clip = torch.randn(1, 3, 4, 32, 32, dtype=torch.float64)  # float64: the kernels' summation orders differ
    tsm, c2d = tsm.double(), c2d.double()
    with torch.no_grad():
        shifted, per_frame = tsm(clip), c2d(clip)
        assert (shifted - per_frame).norm() > FAMILY_MARGIN * per_frame.norm()  # the shift moves the logits
        for m in tsm.modules():
            if isinstance(m, ShiftConv):
                m.fold_div = 10 ** 6  # no channel shifted
        torch.testing.assert_close(tsm(clip), per_frame)


def test_gst_and_tam_inflation(resnet50_file):
    ref, path = resnet50_file
    src = ref.state_dict()
    gst, gst_other_seed = inflated('gst_resnet50', path), inflated('gst_resnet50', path, seed=1)
    w = src['layer2.1.conv2.weight']  # (128, 128, 3, 3): spatial takes outputs 0-95 of inputs 0-63
    assert torch.equal(gst.layer2[1].conv2.spatial.weight, w[:96, :64].unsqueeze(2))
    assert torch.equal(gst_other_seed.layer2[1].conv2.spatial.weight, w[:96, :64].unsqueeze(2))
    temporal = gst.layer2[1].conv2.temporal.weight  # (32, 64, 3, 3, 3), random
    assert_kaiming_normal(temporal)
    assert not torch.allclose(temporal, gst_other_seed.layer2[1].conv2.temporal.weight)
    tam, tam_other_seed = inflated('tam_resnet50', path), inflated('tam_resnet50', path, seed=1)
    assert torch.equal(tam.layer3[2].conv2.weight, src['layer3.2.conv2.weight'].unsqueeze(2))
    # TAM's Conv1d and Linear keep PyTorch's default init: uniform within 1 / sqrt(fan_in)
    local = tam.layer3[2].conv2.tam.local_branch[0].weight  # Conv1d(256, 64, 3)
    bound = 1 / (256 * 3) ** 0.5
    assert local.abs().max() <= bound and local.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.05)
    assert not torch.allclose(local, tam_other_seed.layer3[2].conv2.tam.local_branch[0].weight)
