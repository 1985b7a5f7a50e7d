"""torch.hub entry points, with no network: ``load(source='local')`` on this checkout, and
``list``/``help`` (GitHub-only in torch.hub) on a hub cache holding a copy of it, which is
where torch.hub keeps a downloaded repository."""
import shutil
from pathlib import Path

import pytest
import torch

import csst_zoo

REPO = str(Path(__file__).resolve().parents[1])


@pytest.fixture
def hub_cache(tmp_path):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    repo = tmp_path / 'org_csst_main'
    shutil.copytree(Path(REPO) / 'csst_zoo', repo / 'csst_zoo', ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(Path(REPO) / 'hubconf.py', repo / 'hubconf.py')
    yield 'org/csst:main'
    torch.hub.set_dir(old)


def test_hub_list_is_the_registry(hub_cache):
    assert sorted(torch.hub.list(hub_cache, trust_repo=True)) == sorted(
        csst_zoo.list_models() + csst_zoo.list_models(pretrained=True))


def test_hub_load_takes_a_tag(hub_cache):
    model = torch.hub.load(REPO, 'tsm_resnet50.k400_mmaction2_8f', source='local', pretrained=False)
    assert model.pretrained_cfg['tag'] == 'k400_mmaction2_8f' and model.num_classes == 400
    assert 'Kinetics-400: top-1 73.18%' in torch.hub.help(hub_cache, 'tsm_resnet50.k400_mmaction2_8f', trust_repo=True)


def test_hub_help_shows_the_docstring(hub_cache):
    text = torch.hub.help(hub_cache, 'csst_resnet50', trust_repo=True)
    assert 'CSST-Net on ResNet50' in text and 'resnet50.tv_in1k' in text and 'num_frames' in text


def test_hub_load_local():
    model = torch.hub.load(REPO, 'csst_resnet50', source='local', pretrained=False, num_classes=174)
    assert isinstance(model, csst_zoo.VideoResNet) and model.num_classes == 174
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 2, 32, 32)).shape == (1, 174)


def test_hub_load_pretrained_from_local_file(tmp_path):
    import timm
    ref = timm.create_model('resnet18')
    torch.save(ref.state_dict(), tmp_path / 'r18.pth')
    model = torch.hub.load(REPO, 'c2d_resnet18', source='local', pretrained=True,
                           pretrained_cfg_overlay=dict(file=str(tmp_path / 'r18.pth')))
    torch.testing.assert_close(model.conv1.weight[:, :, 0], ref.conv1.weight)
