import pytest
import timm
import torch

import csst_zoo
from csst_zoo import VideoResNet
from conftest import assert_family_moves_logits, family_layers, n_params, sensitive_model

ALL = csst_zoo.list_models()
CLIP = (2, 3, 4, 64, 64)


def test_registry_lists_every_family_and_depth():
    families, depths = ('c2d', 'c3d', 'c3dg', 'p3d', 'csst', 'tsm'), (18, 34, 50, 101)
    rivals = [f'{f}_resnet{d}' for f in ('gst', 'tam') for d in (50, 101)]
    assert sorted(ALL) == sorted([f'{f}_resnet{d}' for f in families for d in depths] + rivals)
    assert csst_zoo.list_models('csst_*') == ['csst_resnet18', 'csst_resnet34', 'csst_resnet50', 'csst_resnet101']
    assert 'csst_resnet50.tv_in1k' in csst_zoo.list_models(pretrained=True)
    assert csst_zoo.is_model('csst_resnet50') and csst_zoo.is_model('csst_resnet50.tv_in1k')
    assert not csst_zoo.is_model('resnet50')  # timm's own models are not ours
    assert set(ALL) <= set(timm.list_models())


def test_written_entry_points_agree_with_the_families(monkeypatch):
    """Every model name is a def of models/video_resnet.py (grep and go-to-definition find it) that
    builds what its name says: one per family and depth of FAMILIES, and no other."""
    import inspect
    from csst_zoo.models import video_resnet
    written = {n for n, f in inspect.getmembers(video_resnet, inspect.isfunction)
               if f.__module__ == video_resnet.__name__ and '_resnet' in n and not n.startswith('_')}
    assert written == {f'{f}_resnet{d}' for f, family in csst_zoo.FAMILIES.items() for d in family.depths}
    built = {}
    monkeypatch.setattr(video_resnet, 'build_video_model',
                        lambda cls, variant, pretrained, **kw: built.setdefault(
                            variant, (kw['family'], kw['layers'], kw['block'].__name__)))
    blocks = {18: ((2, 2, 2, 2), 'VideoBasicBlock'), 34: ((3, 4, 6, 3), 'VideoBasicBlock'),
              50: ((3, 4, 6, 3), 'VideoBottleneck'), 101: ((3, 4, 23, 3), 'VideoBottleneck')}
    for name in written:
        getattr(video_resnet, name)()
        family, depth = name.split('_resnet')
        assert built[name] == (family, *blocks[int(depth)]), name
        assert timm.models.model_entrypoint(name) is getattr(video_resnet, name)


@pytest.mark.parametrize('name', ALL)
def test_forward_backward_every_model(name):
    fixed = name.startswith('tam_')  # TAM is built for one clip length
    model = csst_zoo.create_model(name, num_classes=7, num_frames=4 if fixed else 8)
    model.train()
    out = model(torch.randn(CLIP))  # T=4 although num_frames=8: T is read from the input
    assert out.shape == (2, 7)
    out.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 4 if fixed else 3, 64, 64)).shape == (1, 7)


@pytest.mark.parametrize('name', ['tsm_resnet50', 'gst_resnet50', 'tam_resnet50'])
def test_rivals_run_at_eight_frames(name):
    model = csst_zoo.create_model(name, num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 64, 64)).shape == (1, 5)


def test_tam_names_both_clip_lengths():
    model = csst_zoo.create_model('tam_resnet50', num_frames=8)
    with pytest.raises(ValueError, match='num_frames=8 frames.*got a clip of T=4.*num_frames=4'):
        model(torch.randn(1, 3, 4, 32, 32))
    assert model.fixed_num_frames == 8 and csst_zoo.create_model('tsm_resnet50').fixed_num_frames is None


# The paper's Table 4 (ResNet50, 174 classes) within 0.2%; P3D is the plain cascaded P3D (see README).
# Table 5's rivals: TSM 24.3M and TAM 25.6M are 400-class (Kinetics) counts, GST 21.0M a 174-class one.
@pytest.mark.parametrize('name, classes, millions, rel', [
    ('c2d_resnet50', 174, 23.86, 2e-3), ('c3d_resnet50', 174, 46.50, 2e-3), ('c3dg_resnet50', 174, 29.52, 2e-3),
    ('csst_resnet50', 174, 27.34, 2e-3), ('p3d_resnet50', 174, 27.64, 2e-3),
    ('tsm_resnet50', 400, 24.3, 2e-3), ('tam_resnet50', 400, 25.6, 2e-3), ('gst_resnet50', 174, 21.0, 2e-3),
])
def test_resnet50_param_counts(name, classes, millions, rel):
    model = csst_zoo.create_model(name, num_classes=classes)
    assert n_params(model) / 1e6 == pytest.approx(millions, rel=rel)


def test_tsm_has_exactly_the_2d_resnet_weights():
    for depth in (18, 50, 101):
        # names and shapes here (kernels as 1 x k x k); test_rivals checks the inflated values
        tsm = csst_zoo.create_model(f'tsm_resnet{depth}', num_classes=174).state_dict()
        ref = timm.create_model(f'resnet{depth}', num_classes=174).state_dict()
        assert {k: v.shape for k, v in tsm.items()} == {
            k: v.unsqueeze(2).shape if v.ndim == 4 else v.shape for k, v in ref.items()}


def test_tsm_shifts_every_other_block_of_resnet101_only():
    shifted = lambda m: [n for n, c in m.named_modules() if type(c).__name__ == 'ShiftConv']  # noqa: E731
    r50, r101 = csst_zoo.create_model('tsm_resnet50'), csst_zoo.create_model('tsm_resnet101')
    assert len(shifted(r50)) == 16 and 'layer3.1.conv1' in shifted(r50)
    assert len(shifted(r101)) == 2 + 2 + 12 + 2 and 'layer3.1.conv1' not in shifted(r101)
    r18 = [f'layer{s}.{b}.conv1' for s in (1, 2, 3, 4) for b in (0, 1)]
    assert shifted(csst_zoo.create_model('tsm_resnet18')) == r18


def test_c2d_has_exactly_the_2d_resnet_params():
    for depth in (18, 50):
        ref = timm.create_model(f'resnet{depth}', num_classes=174)
        assert n_params(csst_zoo.create_model(f'c2d_resnet{depth}', num_classes=174)) == n_params(ref)


def test_alpha_and_groups_reach_the_blocks():
    model = csst_zoo.create_model('csst_resnet50', alpha=0.25, groups=4)
    conv = model.layer3[0].conv2
    assert (conv.alpha, conv.groups, conv.temporal_channels) == (0.25, 4, 64)
    assert model.layer1[0].conv2.temporal.groups == 4
    assert csst_zoo.create_model('c3dg_resnet18', groups=4).layer2[1].conv1.groups == 4


def test_basic_blocks_replace_both_3x3_convs():
    model = csst_zoo.create_model('csst_resnet18')
    block = model.layer2[0]
    assert type(block.conv1).__name__ == type(block.conv2).__name__ == 'CSSTConv'
    assert type(model.layer2[0].downsample[0]).__name__ == 'FrameConv'  # 1x1 projection stays per frame


def test_timm_create_model_and_contract():
    model = timm.create_model('csst_resnet18', num_classes=10, num_frames=6, drop_rate=0.3)
    assert isinstance(model, VideoResNet)
    cfg = model.pretrained_cfg
    assert cfg['input_size'] == (3, 6, 224, 224) and cfg['pool_size'] == (6, 7, 7)
    assert cfg['architecture'] == 'csst_resnet18' and cfg['num_classes'] == 1000  # the weights' head
    assert cfg['mean'] == timm.data.IMAGENET_DEFAULT_MEAN and cfg['crop_pct'] == 0.875
    state = model.state_dict()
    assert cfg['first_conv'] + '.weight' in state and cfg['classifier'] + '.weight' in state
    assert model.num_classes == 10 and model.num_features == 512 and model.drop_rate == 0.3
    assert model.get_classifier() is model.fc and model.get_classifier(name_only=True) == 'fc'
    assert [f['num_chs'] for f in model.feature_info] == [64, 64, 128, 256, 512]

    model.eval()
    x = torch.randn(1, 3, 6, 64, 64)
    feats = model.forward_features(x)
    assert feats.shape == (1, 512, 6, 2, 2)
    pre = model.forward_head(feats, pre_logits=True)
    assert pre.shape == (1, model.head_hidden_size) == (1, 512)
    torch.testing.assert_close(model.forward_head(feats), model.fc(pre))
    torch.testing.assert_close(model(x), model.fc(pre))

    model.reset_classifier(0)
    out = model(x)
    assert out.shape == (1, model.num_features)
    torch.testing.assert_close(out, pre)
    model.reset_classifier(0, '')
    assert model(x).shape == feats.shape
    model.reset_classifier(5, 'max')
    assert model(x).shape == (1, 5)
    model.reset_classifier(5, '')  # timm's contract allows it; a clip's unpooled map cannot be classified
    with pytest.raises(ValueError, match='the classifier needs pooled features'):
        model(x)


def test_default_cfg_input_size_runs():
    model = timm.create_model('csst_resnet18', num_classes=3).eval()
    c, t, h, w = model.pretrained_cfg['input_size']
    with torch.no_grad():
        assert model(torch.randn(1, c, t, h, w)).shape == (1, 3)


@pytest.mark.parametrize('family', list(csst_zoo.FAMILIES))
def test_fresh_models_hide_their_family_and_the_test_models_do_not(family):
    """Why numerical tests use conftest.sensitive_model: timm zero-initialises the last BatchNorm of
    every residual branch, so in a fresh model the family's layers cannot move the logits at all."""
    name = f'{family}_resnet{min(csst_zoo.FAMILIES[family].depths)}'
    x = torch.randn(CLIP)
    fresh = csst_zoo.create_model(name, num_classes=7, num_frames=4).eval()
    with pytest.raises(AssertionError, match='changes the logits by 0 of their norm'):
        assert_family_moves_logits(fresh, x)
    assert_family_moves_logits(sensitive_model(name, CLIP, num_classes=7, num_frames=4), x)


def autograd_node_names(output: torch.Tensor) -> set:
    """The names of every node of the backward graph of ``output``."""
    names, stack, seen = set(), [output.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize('family', list(csst_zoo.FAMILIES))
def test_training_graph_copies_no_clip_for_an_in_place_op(family):
    """The per-frame ops return clips as views of their frames; an in-place op on such a view makes
    autograd copy the whole tensor in the backward pass (a CopySlices node), which made training on
    the CPU twice as slow as timm's ResNet. In inference the same ops run in place."""
    name = f'{family}_resnet{min(csst_zoo.FAMILIES[family].depths)}'
    model = csst_zoo.create_model(name, num_classes=3, num_frames=4).train()
    for layout in (torch.contiguous_format, torch.channels_last_3d):
        nodes = autograd_node_names(model(torch.randn(CLIP).contiguous(memory_format=layout)))
        assert 'ConvolutionBackward0' in nodes and 'CopySlices' not in nodes


def test_grad_checkpointing_gives_same_outputs_and_grads():
    x = torch.randn(1, 3, 4, 32, 32)
    model = sensitive_model('csst_resnet18', x.shape, num_classes=4)  # eval: BN stats fixed
    model(x).logsumexp(1).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    # every weight of every CSST conv gets a gradient a wrong recomputation would change
    csst_grads = [p.grad for m in family_layers(model) for p in m.parameters()]
    assert len(csst_grads) == 16 * 3 and min(g.abs().max().item() for g in csst_grads) > 1e-4
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).logsumexp(1).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], rtol=1e-4, atol=1e-5)


def test_features_only():
    model = timm.create_model('csst_resnet18', features_only=True, out_indices=(1, 2, 3, 4)).eval()
    outs = model(torch.randn(1, 3, 4, 64, 64))
    assert [o.shape[1] for o in outs] == model.feature_info.channels() == [64, 128, 256, 512]
    assert [o.shape[2] for o in outs] == [4] * 4


def test_in_chans():
    model = csst_zoo.create_model('c2d_resnet18', in_chans=2, num_classes=3)
    assert model(torch.randn(1, 2, 2, 32, 32)).shape == (1, 3)


@pytest.mark.parametrize('shape, message', [
    ((3, 4, 32, 32), 'input must be a 5-D clip \\(N, C, T, H, W\\), got a 4-D tensor'),
    ((1, 1, 3, 4, 32, 32), 'got a 6-D tensor'),
    ((1, 4, 3, 32, 32), 'looks like \\(N, T, C, H, W\\)'),
    ((1, 1, 4, 32, 32), 'input has 1 channels in dim 1'),
])
def test_bad_input_shapes(shape, message):
    model = csst_zoo.create_model('csst_resnet18')
    with pytest.raises(ValueError, match=message):
        model(torch.randn(shape))


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(ValueError, match="unknown model name 'cst_resnet50'.*Did you mean 'csst_resnet50'"):
        csst_zoo.create_model('cst_resnet50')
    with pytest.raises(ValueError, match='unknown model name'):
        csst_zoo.create_model('resnet50')


@pytest.mark.parametrize('name, kwargs, message', [
    ('csst_resnet50', dict(alpha=1.5), 'alpha must be a number strictly between 0 and 1'),
    ('csst_resnet50', dict(alpha=0.3), 'alpha \\* in_channels must be a whole number'),
    ('csst_resnet50', dict(groups=3), 'groups=3 must divide'),
    ('c3dg_resnet50', dict(groups=7), 'groups=7 must divide'),
    ('c2d_resnet50', dict(alpha=0.5), 'alpha does not apply to the c2d family'),
    ('tsm_resnet50', dict(groups=2), 'groups does not apply to the tsm family, which takes fold_div'),
    ('tsm_resnet50', dict(fold_div=1), 'fold_div must be at least 2'),
    ('gst_resnet50', dict(beta=3), 'beta must be 2 .* or 1 \\(GST-Large'),
    ('gst_resnet50', dict(alpha=3), 'alpha=3 must be at least 2 and divide the output channels'),
    ('csst_resnet50', dict(num_frames=0), 'num_frames must be a positive integer'),
])
def test_bad_model_arguments(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        csst_zoo.create_model(name, **kwargs)
