"""Planted bugs: each test plants one bug that a test of the suite claims to catch, runs that test,
and asserts that it fails. A test that passes here means a guard that has gone blind.

The bugs are the ones a fresh, timm-initialised model hides (its residual branches add exactly 0,
so a family layer may compute anything), the ones that live on one path only (ONNX export,
torch.fx tracing, torch.compile) and the training and evaluation rules the docs state.
"""
import pytest
import torch
import torch.nn.functional as F

import test_export
import test_fx
import test_layers
import test_models
import test_rivals
import test_timm_contract
import test_train
from csst_zoo.engine import inference, train
from csst_zoo.families import csst, gst, tam, tsm
from csst_zoo.layers import C2DConv, spatiotemporal_mean
from csst_zoo.models import video_resnet
from test_timm_contract import timm_tests  # noqa: F401  (the fixture: timm's test file, adapted)

# Where a planted bug is active: everywhere, or only on one path a test of that path must check.
PATHS = {
    'eager': lambda: True,
    'onnx': torch.onnx.is_in_onnx_export,
    'fx': torch.fx._symbolic_trace.is_fx_tracing,
    'compile': torch.compiler.is_compiling,
}


def only_on(path: str, mutant, real):
    """A function (or, set on a class, a method) that is ``mutant`` while on ``path`` and ``real`` elsewhere."""
    active = PATHS[path]
    return lambda *args, **kwargs: (mutant if active() else real)(*args, **kwargs)


def sknet_fusion(u1, u2):
    """The fusion as a selective kernel would weigh it (each branch by its own mean), instead of the
    paper's Eq. 5, where the weight of U1 comes from S2. Swapping U1 and U2 in Eq. 5 changes nothing
    (it is symmetric), so this is the plausible way to get it wrong."""
    beta = torch.sigmoid(spatiotemporal_mean(u1) - spatiotemporal_mean(u2))
    return beta * u1 + (1 - beta) * u2


def tam_identity(self, x):
    return x


def gst_temporal_identity(self, x):
    """GST whose 3x3x3 conv sees only its own frame: the temporal kernel's centre tap alone."""
    x_spatial, x_temporal = x.chunk(2, dim=1) if self.beta == 2 else (x, x)
    t = self.temporal
    per_frame = F.conv3d(x_temporal, t.weight[:, :, 1:2], None, t.stride, (0, *t.padding[1:]), t.dilation)
    return torch.cat([self.spatial(x_spatial), per_frame], dim=1)


def onnx_parity(family):
    return lambda tmp: test_export.test_onnx_export_matches_eager_with_dynamic_batch_and_frames(family, tmp)


def fx_parity(family):
    return lambda tmp: test_fx.test_torchvision_feature_extraction(f'{family}_resnet50')


NOT_CLOSE = (AssertionError, 'not close')
EXPORT_DIFFERS = (RuntimeError, 'differ from eager PyTorch')  # export_model's own check, before the test's
FX_DIFFERS = (AssertionError, 'allclose')
TAM, GST = (tam.TemporalAdaptiveModule, 'forward', tam_identity), (gst.GSTConv, 'forward', gst_temporal_identity)
CSST_FUSION = (csst, 'pfff', sknet_fusion)


@pytest.mark.parametrize('bug, path, guard, failure', [
    (CSST_FUSION, 'onnx', onnx_parity('csst'), EXPORT_DIFFERS),
    pytest.param(CSST_FUSION, 'compile', lambda tmp: test_export.test_compiles_without_graph_break('csst'),
                 NOT_CLOSE, marks=pytest.mark.slow),
    (TAM, 'eager', lambda tmp: test_rivals.test_tam_matches_its_definition_and_kernel_shapes(), NOT_CLOSE),
    (TAM, 'onnx', onnx_parity('tam'), EXPORT_DIFFERS),
    (TAM, 'fx', fx_parity('tam'), FX_DIFFERS),
    (GST, 'eager', lambda tmp: test_rivals.test_gst_splits_spatial_first_and_concatenates_spatial_first(), NOT_CLOSE),
    (GST, 'onnx', onnx_parity('gst'), EXPORT_DIFFERS),
    (GST, 'fx', fx_parity('gst'), FX_DIFFERS),
], ids=['csst-fusion-onnx', 'csst-fusion-compile', 'tam-identity-eager', 'tam-identity-onnx', 'tam-identity-fx',
        'gst-identity-eager', 'gst-identity-onnx', 'gst-identity-fx'])
def test_family_layer_wrong_on_one_path(monkeypatch, tmp_path, bug, path, guard, failure):
    owner, name, mutant = bug
    monkeypatch.setattr(owner, name, only_on(path, mutant, getattr(owner, name)))
    with pytest.raises(failure[0], match=failure[1]):
        guard(tmp_path)


def test_tsm_without_its_shift(monkeypatch, tmp_path):
    monkeypatch.setattr(tsm, 'temporal_shift', lambda x, fold_div=8: x)
    with pytest.raises(AssertionError, match='not close'):
        test_rivals.test_shift_conv_is_the_conv_of_the_shifted_clip()
    with pytest.raises(AssertionError, match='norm'):  # "the shift moves the logits"
        test_rivals.test_inflated_tsm_is_the_2d_net_with_the_shift_removed(test_rivals.random_resnet50(tmp_path))


def test_evaluation_scoring_only_the_first_view(monkeypatch, jester):
    monkeypatch.setattr(train, 'view_logits', lambda model, clips, *layout: model(clips[:, 0]))
    with pytest.raises(AssertionError):
        test_train.test_evaluation_averages_the_logits_of_the_views(jester)


def test_prediction_averaging_probabilities(monkeypatch, tmp_path):
    monkeypatch.setattr(inference, 'view_logits',
                        lambda model, clips, *layout: model(clips[0]).softmax(1).mean(0, keepdim=True).log())
    with pytest.raises(AssertionError):
        test_train.test_prediction_averages_the_logits_of_the_views(tmp_path)


def test_no_warm_up(monkeypatch, jester, tmp_path):
    scheduler = train.CosineLRScheduler
    monkeypatch.setattr(train, 'CosineLRScheduler',
                        lambda *args, warmup_t=0, warmup_lr_init=0, **kwargs: scheduler(*args, **kwargs))
    with pytest.raises(AssertionError):
        test_train.test_learning_rate_warms_up_then_follows_the_cosine(jester, tmp_path)


def test_direction_classes_flipped(monkeypatch, tmp_path):
    monkeypatch.setattr(train, 'mirrored_classes', lambda names: set())
    with pytest.raises(AssertionError):
        test_train.test_flips_follow_the_dataset_and_the_class_names(tmp_path)


def test_c2d_conv_ignoring_its_stride(monkeypatch):
    init = C2DConv.__init__
    monkeypatch.setattr(C2DConv, '__init__', lambda self, c_in, c_out, stride=1, *args, **kwargs: init(
        self, c_in, c_out, 1, *args, **kwargs))
    with pytest.raises(AssertionError):
        test_layers.test_shapes_keep_time(C2DConv, dict(stride=2), 2, t=3)


def test_residual_add_in_place_while_training(monkeypatch):
    monkeypatch.setattr(video_resnet, 'recording_autograd', lambda: False)
    with pytest.raises(AssertionError, match='CopySlices'):
        test_models.test_training_graph_copies_no_clip_for_an_in_place_op('c2d')


def test_head_ignoring_pre_logits_breaks_timms_contract(monkeypatch, pytester, timm_tests):  # noqa: F811
    """timm's own default-cfg test, run by test_timm_contract, sees a head that answers logits when
    asked for the pooled features (``forward_head(x, pre_logits=True)``, what timm's feature users call)."""
    head = video_resnet.VideoResNet.forward_head
    monkeypatch.setattr(video_resnet.VideoResNet, 'forward_head', lambda self, x, pre_logits=False: head(self, x))
    result = test_timm_contract.run_timm_tests(pytester, monkeypatch, timm_tests, ('test_model_default_cfgs',))
    result.assert_outcomes(failed=len(test_timm_contract.MODELS))
    assert 'pre_logits feature dim' in result.stdout.str()
