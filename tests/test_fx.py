"""torch.fx: every family traces symbolically (torchvision's feature extraction, timm's feature_cls='fx'),
and a traced model keeps the eager model's input errors."""
import pytest
import torch
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

import csst_zoo
from csst_zoo.families import FAMILIES
from conftest import sensitive_model

# one model per family, the smallest depth it has
MODELS = [f'{name}_resnet{min(family.depths)}' for name, family in FAMILIES.items()]
CLIP = (2, 3, 4, 32, 32)


@pytest.mark.parametrize('name', MODELS)
def test_torchvision_feature_extraction(name):
    model = sensitive_model(name, CLIP, num_classes=5, num_frames=4)
    train_nodes, eval_nodes = get_graph_node_names(model)
    assert 'layer4' in [n.split('.')[0] for n in eval_nodes] and eval_nodes == train_nodes
    extractor = create_feature_extractor(model, return_nodes={'layer2': 'mid', 'layer4': 'last', 'fc': 'logits'})
    x = torch.randn(CLIP)
    with torch.no_grad():
        out = extractor(x)
        assert torch.allclose(out['logits'], model(x), atol=1e-5)
        assert torch.allclose(out['last'], model.forward_features(x), atol=1e-5)
    assert out['mid'].shape[:3] == (2, model.feature_info[2]['num_chs'], 4)
    # the traced graph runs the input checks on the real input: the same errors as eager
    for bad, message in ((torch.randn(2, 3, 32, 32), 'input must be a 5-D clip'),
                         (torch.randn(2, 4, 3, 32, 32), r'looks like \(N, T, C, H, W\)')):
        with pytest.raises(ValueError, match=message):
            extractor(bad)


def test_traced_tam_keeps_its_clip_length_error():
    extractor = create_feature_extractor(csst_zoo.create_model('tam_resnet50', num_frames=4).eval(), ['layer1'])
    with pytest.raises(ValueError, match='TAM is built for clips of num_frames=4 frames .* got a clip of T=6'):
        extractor(torch.randn(1, 3, 6, 32, 32))


@pytest.mark.parametrize('name', ['csst_resnet18', 'tsm_resnet18'])
def test_timm_fx_feature_extraction_matches_hooks(name):
    # both load the weights of one model in which every family layer moves the features (conftest)
    weights = sensitive_model(name, CLIP, num_frames=4).state_dict()
    listed, traced = (csst_zoo.create_model(name, features_only=True, feature_cls=feature_cls, num_frames=4,
                                            pretrained=True, pretrained_cfg_overlay=dict(state_dict=weights)).eval()
                      for feature_cls in (None, 'fx'))
    x = torch.randn(CLIP)
    with torch.no_grad():
        a, b = listed(x), traced(x)
    assert len(a) == len(b) == 5
    assert all(torch.allclose(u, v, atol=1e-5) for u, v in zip(a, b))
    with pytest.raises(ValueError, match=r"feature_cls must be one of \[None, 'dict', 'fx', 'list'\], got 'hooks'"):
        csst_zoo.create_model(name, features_only=True, feature_cls='hooks')


def test_fx_backward_through_a_traced_model():
    model = sensitive_model('csst_resnet18', CLIP, num_classes=3, num_frames=4).train()
    traced = create_feature_extractor(model, return_nodes={'fc': 'logits'})
    x = torch.randn(CLIP)
    traced(x)['logits'].logsumexp(1).sum().backward()
    traced_grads = {n: p.grad for n, p in traced.named_parameters()}
    model.zero_grad()
    model(x).logsumexp(1).sum().backward()
    for n, p in model.named_parameters():  # the traced graph's gradients are the eager model's
        torch.testing.assert_close(traced_grads[n], p.grad, rtol=1e-4, atol=1e-6)
    assert model.layer4[1].conv2.temporal.weight.grad.abs().max() > 1e-3
