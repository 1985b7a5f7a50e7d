"""TSM, GST and TAM: each module's math on small tensors, and their inflation."""
import pytest
import torch
import torch.nn.functional as F

import csst_zoo
from csst_zoo import GSTConv, ShiftConv, TAMConv, TemporalAdaptiveModule, temporal_shift
from csst_zoo.families import FAMILIES
from conftest import n_params


def test_shift_directions_and_zero_ends():
    # 16 channels, fold_div 8: channels 0-1 take frame t+1, 2-3 take frame t-1, 4-15 stay.
    x = torch.arange(1.0, 5.0).reshape(1, 1, 4, 1, 1).repeat(1, 16, 1, 1, 1)  # frame t holds t + 1
    y = temporal_shift(x, fold_div=8)[0, :, :, 0, 0]
    assert y[0].tolist() == y[1].tolist() == [2, 3, 4, 0]  # from the next frame, zero at the end
    assert y[2].tolist() == y[3].tolist() == [0, 1, 2, 3]  # from the previous frame, zero at the start
    assert all(y[c].tolist() == [1, 2, 3, 4] for c in range(4, 16))
    assert temporal_shift(torch.ones(1, 16, 1, 2, 2)).sum() == 12 * 4  # T=1: both folds are zeros


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


@pytest.fixture(scope='module')
def resnet50_file(tmp_path_factory):
    import timm
    torch.manual_seed(0)
    ref = timm.create_model('resnet50').eval()
    path = tmp_path_factory.mktemp('r50') / 'resnet50.pth'
    torch.save(ref.state_dict(), path)
    return ref, path


def test_inflated_tsm_is_the_2d_net_with_the_shift_removed(resnet50_file):
    ref, path = resnet50_file
    tsm = csst_zoo.create_model('tsm_resnet50', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    c2d = csst_zoo.create_model('c2d_resnet50', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    tsm_state, c2d_state = tsm.state_dict(), c2d.state_dict()
    assert all(torch.equal(tsm_state[k], c2d_state[k]) for k in c2d_state)  # every 2D weight verbatim
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        for m in tsm.modules():
            if isinstance(m, ShiftConv):
                m.fold_div = 10 ** 6  # no channel shifted
        torch.testing.assert_close(tsm.eval()(clip), c2d.eval()(clip))


def test_gst_and_tam_inflation(resnet50_file):
    ref, path = resnet50_file
    src = ref.state_dict()
    gst = csst_zoo.create_model('gst_resnet50', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    w = src['layer2.1.conv2.weight']  # (128, 128, 3, 3): spatial takes outputs 0-95 of inputs 0-63
    assert torch.equal(gst.layer2[1].conv2.spatial.weight, w[:96, :64].unsqueeze(2))
    assert gst.layer2[1].conv2.temporal.weight.abs().sum() > 0
    tam = csst_zoo.create_model('tam_resnet50', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert torch.equal(tam.layer3[2].conv2.weight, src['layer3.2.conv2.weight'].unsqueeze(2))
    assert tam.layer3[2].conv2.tam.local_branch[0].weight.abs().sum() > 0
