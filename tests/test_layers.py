import math

import pytest
import torch
import torch.nn.functional as F

from csst_zoo import C2DConv, C3DConv, CSSTConv, P3DConv, pfff
from csst_zoo.families import FAMILIES, get_family
from csst_zoo.layers import conv3d, spatiotemporal_mean
from csst_zoo.profiling import conv_params_formula as table1_params
from conftest import n_params


@pytest.mark.parametrize('c_in, c_out, alpha, g', [
    (64, 64, 0.5, 2), (128, 128, 0.25, 2), (128, 128, 0.75, 2), (256, 256, 0.5, 4), (64, 64, 0.5, 8),
    (64, 128, 0.5, 2),
])
def test_param_counts_match_table1(c_in, c_out, alpha, g):
    # the paper's formula by hand at the defaults: (9 / 2 + 27 / 4 + 1 / 2) 64 64 = 48128
    assert table1_params('csst', 64, 64) == 48128
    assert (n_params(CSSTConv(c_in, c_out, alpha=alpha, groups=g))
            == table1_params('csst', c_in, c_out, alpha=alpha, groups=g))
    assert n_params(C2DConv(c_in, c_out)) == table1_params('c2d', c_in, c_out)
    assert n_params(C3DConv(c_in, c_out)) == table1_params('c3d', c_in, c_out)
    assert n_params(C3DConv(c_in, c_out, groups=g)) == table1_params('c3dg', c_in, c_out, groups=g)
    # P3D's temporal conv works at the output width: 9 C_in C_out + 3 C_out^2, Table 1's
    # (k^2 + k) C_in C_out whenever C_in == C_out (every bottleneck 3x3 conv).
    assert n_params(P3DConv(c_in, c_out)) == 9 * c_in * c_out + 3 * c_out * c_out
    if c_in == c_out:
        assert n_params(P3DConv(c_in, c_out)) == table1_params('p3d', c_in, c_out)


@pytest.mark.parametrize('layer, kwargs, stride', [
    (C2DConv, dict(stride=2), 2), (C3DConv, dict(stride=2), 2), (C3DConv, dict(stride=2, groups=2), 2),
    (P3DConv, dict(stride=2), 2), (CSSTConv, dict(stride=2), 2), (CSSTConv, dict(alpha=0.25, groups=2), 1),
], ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
@pytest.mark.parametrize('t', [1, 3, 8])
def test_shapes_keep_time(layer, kwargs, stride, t):
    # the expected stride is the one asked for, not one read back from the module
    y = layer(8, 16, **kwargs)(torch.randn(2, 8, t, 12, 12))
    assert y.shape == (2, 16, t, 12 // stride, 12 // stride)


def test_c2d_is_the_2d_conv_per_frame():
    conv = C2DConv(6, 10, stride=2)
    x = torch.randn(2, 6, 5, 9, 9)
    y = conv(x)
    for t in range(5):
        ref = F.conv2d(x[:, :, t], conv.weight[:, :, 0], stride=2, padding=1)
        torch.testing.assert_close(y[:, :, t], ref, rtol=1e-5, atol=1e-5)


def test_c3d_sees_neighbouring_frames_and_c2d_does_not():
    x = torch.zeros(1, 4, 5, 6, 6)
    x[:, :, 2] = 1.0  # only frame 2 is lit
    for conv, lit in ((C2DConv(4, 4), {2}), (C3DConv(4, 4), {1, 2, 3}), (P3DConv(4, 4), {1, 2, 3}),
                      (CSSTConv(4, 4), {1, 2, 3})):
        with torch.no_grad():
            torch.nn.init.constant_(next(conv.parameters()), 0.0)
            for p in conv.parameters():
                p.abs_().add_(0.1)
        y = conv(x)
        lit_frames = {t for t in range(5) if y[:, :, t].abs().sum() > 0}
        if isinstance(conv, CSSTConv):
            # PFFF mixes in per-clip means, so every frame is non-zero: check the temporal branch.
            u2 = conv.temporal(x[:, :2]) + conv.pointwise(x[:, :2])
            lit_frames = {t for t in range(5) if u2[:, :, t].abs().sum() > 0}
        assert lit_frames == lit, type(conv).__name__


def test_pfff_matches_equations_4_to_6():
    # Two channels, hand-made: U1 channel means 1 and -2, U2 channel means 3 and 0.
    u1 = torch.stack([torch.full((2, 2, 2), 1.0), torch.tensor([-1.0, -3.0]).repeat(4).reshape(2, 2, 2)])[None]
    u2 = torch.stack([torch.arange(8.0).reshape(2, 2, 2) - 0.5, torch.zeros(2, 2, 2)])[None]
    s1, s2 = [1.0, -2.0], [3.0, 0.0]
    y = pfff(u1, u2)
    for c in range(2):
        beta = math.exp(s2[c]) / (math.exp(s1[c]) + math.exp(s2[c]))  # Eq. 5
        gamma = 1.0 - beta
        expected = beta * u1[0, c] + gamma * u2[0, c]  # Eq. 6
        torch.testing.assert_close(y[0, c], expected, rtol=1e-6, atol=1e-6)
    # by hand, channel 0, first element: beta = e^3 / (e^1 + e^3) = 0.880797..., U1 = 1, U2 = -0.5
    assert math.isclose(y[0, 0, 0, 0, 0].item(), 0.8807970779778823 - 0.5 * (1 - 0.8807970779778823), rel_tol=1e-6)


def test_pfff_is_stable_for_large_activations():
    u1 = torch.full((1, 1, 1, 2, 2), 1000.0)
    u2 = torch.full((1, 1, 1, 2, 2), -1000.0)
    y = pfff(u1, u2)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, u2)  # beta = e^S2 / (e^S1 + e^S2) -> 0, so Y -> U2


def test_spatiotemporal_mean_keeps_dtype_and_does_not_overflow():
    x = torch.randn(2, 3, 4, 5, 6) * 10 + 5
    for dtype, tol in ((torch.float32, 1e-6), (torch.bfloat16, 1e-2)):
        xd = x.to(dtype).contiguous(memory_format=torch.channels_last_3d)
        m = spatiotemporal_mean(xd)
        assert m.dtype == dtype and m.shape == (2, 3, 1, 1, 1)
        torch.testing.assert_close(m.float(), xd.float().mean(dim=(2, 3, 4), keepdim=True), rtol=tol, atol=tol)
    assert spatiotemporal_mean(x, keepdim=False).shape == (2, 3)
    # 8*64*64 values of 60000 sum far past fp16's maximum (65504); their mean does not.
    big = torch.full((1, 1, 8, 64, 64), 60000.0, dtype=torch.float16)
    assert spatiotemporal_mean(big).item() == 60000.0


def test_csst_splits_temporal_first():
    conv = CSSTConv(8, 4, alpha=0.25)
    assert (conv.temporal_channels, conv.spatial_channels) == (2, 6)
    assert conv.spatial.in_channels == 6 and conv.temporal.in_channels == 2 and conv.pointwise.in_channels == 2
    # Through forward: with the temporal branch silenced the output depends only on channels 2-7,
    # with the spatial branch silenced only on channels 0-1 (Eq. 2: the first alpha C_in are temporal).
    x = torch.randn(1, 8, 3, 5, 5)
    first, rest = x.clone(), x.clone()
    first[:, :2] += 1
    rest[:, 2:] += 1
    with torch.no_grad():
        for silenced, unchanged, changed in ((('temporal', 'pointwise'), first, rest), (('spatial',), rest, first)):
            for name in silenced:
                getattr(conv, name).weight.zero_()
            torch.testing.assert_close(conv(unchanged), conv(x))
            assert not torch.allclose(conv(changed), conv(x))
            conv = CSSTConv(8, 4, alpha=0.25)


@pytest.mark.parametrize('kwargs, message', [
    (dict(alpha=0.0), 'alpha must be a number strictly between 0 and 1'),
    (dict(alpha=1.0), 'alpha must be a number strictly between 0 and 1'),
    (dict(alpha=-0.5), 'alpha must be a number strictly between 0 and 1'),
    (dict(alpha='half'), 'alpha must be a number strictly between 0 and 1'),
    (dict(alpha=0.3), 'alpha \\* in_channels must be a whole number'),
    (dict(groups=3), 'groups=3 must divide both'),
    (dict(groups=0), 'groups must be a positive integer'),
])
def test_csst_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CSSTConv(64, 64, **kwargs)


def test_c3dg_bad_groups():
    with pytest.raises(ValueError, match='groups=5 must divide'):
        C3DConv(64, 64, groups=5)


def test_family_arguments_are_checked_and_defaulted():
    with pytest.raises(ValueError, match='alpha does not apply to the c2d family, which takes no extra'):
        FAMILIES['c2d'].resolve_args({'alpha': 0.5})
    with pytest.raises(ValueError, match='alpha does not apply to the c3dg family, which takes groups'):
        FAMILIES['c3dg'].resolve_args({'alpha': 0.5})
    with pytest.raises(ValueError, match="family must be one of"):
        get_family('x3d')
    assert FAMILIES['csst'].resolve_args({'alpha': None, 'groups': 4}) == {'alpha': 0.5, 'groups': 4}


def test_conv3d_runs_onednn_on_cpu_fp32_and_equals_aten():
    # A small single clip, where ATen's own heuristic would take its native kernel.
    x = torch.randn(1, 8, 4, 6, 6, requires_grad=True)
    w = torch.randn(4, 8, 3, 3, 3, requires_grad=True)
    y = conv3d(x, w, None, (1, 1, 1), (1, 1, 1), (1, 1, 1), 1)
    assert type(y.grad_fn).__name__ == 'MkldnnConvolutionBackward0'
    expected = F.conv3d(x, w, None, 1, 1)
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4)
    g = torch.randn_like(y)
    for got, want in zip(torch.autograd.grad(y, (x, w), g), torch.autograd.grad(expected, (x, w), g)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    with torch.autocast('cpu', dtype=torch.bfloat16):  # autocast's own conv3d, in bf16
        assert conv3d(x, w, None, (1, 1, 1), (1, 1, 1), (1, 1, 1), 1).dtype == torch.bfloat16
