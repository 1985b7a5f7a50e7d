"""csst-zoo convert: small checkpoint files in each official key layout, converted and loaded.

The official layouts are written here by hand from the authors' code: TSN-style wrappers
(DataParallel ``module.``, ``base_model.``, ``new_fc``) around a torchvision ResNet, with TSM's
shift as ``conv1.net``, TAM's blocks as ``net.`` beside ``tam.G`` / ``tam.L``, and GST's 3D
ResNet with ``conv2`` (spatial) and ``Tconv`` (temporal).
"""
import json
import re

import pytest
import torch

import csst_zoo
from csst_zoo.cli import main as cli_main
from csst_zoo.convert import convert_checkpoint

FRAMES = 4


def random_model(name, **kwargs):
    model = csst_zoo.create_model(name, num_classes=5, num_frames=FRAMES, **kwargs)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith('running_var'):
                t.uniform_(0.5, 1.5)
            elif t.is_floating_point() and t.ndim == 1:
                t.uniform_(0.5, 1.0) if key.endswith('weight') else t.uniform_(-0.1, 0.1)
    return model.eval()


def official_key(family: str, key: str, model) -> str:
    """Our key -> the authors' key, written independently of csst_zoo's rename rules."""
    if key.startswith('fc.'):
        return 'module.new_fc.' + key[3:]
    if family == 'tsm' and re.match(r'layer\d\.\d+\.conv1\.weight$', key):
        if type(model.get_submodule(key[:-len('.weight')])).__name__ == 'ShiftConv':
            key = key.replace('conv1.weight', 'conv1.net.weight')
    if family == 'gst':
        key = key.replace('conv2.spatial.', 'conv2.').replace('conv2.temporal.', 'Tconv.')
    if family == 'tam':
        block = re.match(r'(layer\d\.\d+)\.(.*)', key)
        if block:
            rest = block.group(2)
            rest = rest.replace('conv2.tam.global_branch.', 'tam.G.').replace('conv2.tam.local_branch.', 'tam.L.')
            key = f'{block.group(1)}.{rest}' if rest.startswith('tam.') else f'{block.group(1)}.net.{rest}'
    return 'module.base_model.' + key


def official_checkpoint(family, model, path, per_frame_2d=True):
    """Save ``model`` as the authors' scripts do: {'epoch', 'state_dict'}; torchvision (TSM, TAM)
    keeps 2D kernels, GST's ResNet is 3D."""
    state = {}
    for key, value in model.state_dict().items():
        if per_frame_2d and value.ndim == 5 and value.shape[2] == 1:
            value = value.squeeze(2)
        state[official_key(family, key, model)] = value.clone()
    torch.save({'epoch': 45, 'arch': 'resnet50', 'best_prec1': 45.6, 'state_dict': state}, path)
    return path


CASES = [
    ('tsm', 'tsm_resnet18', 'TSM_something_RGB_resnet18_shift8_blockres_avg_segment4_e45.pth', {}),
    ('gst', 'gst_resnet50', 'gst_sthv1_segment4.pth.tar', {}),
    ('gst', 'gst_resnet50', 'gst_large_segment4.pth.tar', dict(beta=1)),
    ('tam', 'tam_resnet50', 'something_RGB_resnet50_tam_avg_segment4_e50/ckpt.best.pth.tar', {}),
]


@pytest.mark.parametrize('family, name, filename, kwargs', CASES)
def test_convert_round_trip_gives_the_same_logits(family, name, filename, kwargs, tmp_path):
    model = random_model(name, **kwargs)
    path = tmp_path / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    official_checkpoint(family, model, path, per_frame_2d=family != 'gst')
    converted, origin = convert_checkpoint(family, path)
    assert converted.pretrained_cfg['architecture'] == name and converted.num_frames == FRAMES
    assert converted.family_args == model.family_args and converted.num_classes == 5
    clip = torch.randn(2, 3, FRAMES, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(converted(clip), model(clip), rtol=0, atol=0)
    assert origin['file'] == path.name and origin['repository'].count('/') == 1


def test_official_head_equals_pool_then_linear():
    # The official models apply new_fc to each frame's pooled features and average over T.
    model = random_model('tsm_resnet18')
    clip = torch.randn(2, 3, FRAMES, 32, 32)
    with torch.no_grad():
        features = model.forward_features(clip)                       # (N, C, T, h, w)
        per_frame = model.fc(features.mean(dim=(3, 4)).transpose(1, 2))  # (N, T, classes)
        torch.testing.assert_close(per_frame.mean(dim=1), model(clip), rtol=1e-5, atol=1e-6)


def test_cli_convert_writes_a_loadable_checkpoint_with_a_card(tmp_path, capsys):
    model = random_model('tam_resnet50')
    path = official_checkpoint('tam', model, tmp_path / 'something_RGB_resnet50_tam_avg_segment8_e50.pth.tar')
    labels = tmp_path / 'classes.txt'
    labels.write_text(''.join(f'class {i}\n' for i in range(5)))
    assert cli_main(['convert', 'tam', str(path), '-o', str(tmp_path / 'out'), '--labels', str(labels)]) == 0
    assert 'tam_resnet50' in capsys.readouterr().out
    loaded = csst_zoo.create_model(f'local-dir:{tmp_path / "out"}').eval()
    clip = torch.randn(1, 3, FRAMES, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), model(clip), rtol=0, atol=0)
    assert loaded.pretrained_cfg['label_names'][4] == 'class 4'
    assert tuple(loaded.pretrained_cfg['mean']) == (0.485, 0.456, 0.406)  # ImageNet mean/std on RGB / 255
    config = json.loads((tmp_path / 'out' / 'config.json').read_text())
    assert config['converted_from']['release'] == 'tam-r50-sthv1-8f'
    assert loaded.pretrained_cfg['origin_url'] == 'https://github.com/liu-zhy/temporal-adaptive-module'
    assert loaded.pretrained_cfg['description'].endswith(path.name)
    card = (tmp_path / 'out' / 'README.md').read_text()
    assert 'liu-zhy/temporal-adaptive-module' in card and 'verified: false' in card
    assert 'license: apache-2.0' in card  # the authors' license (timm's ResNet weights are BSD-3-Clause)
    assert "Reported by the method's authors" in card and '46.5' in card


def assert_fails_writing_nothing(args, message, tmp_path, capsys):
    assert cli_main(args + ['-o', str(tmp_path / 'out')]) == 2
    assert re.search(message, capsys.readouterr().err), message
    assert not (tmp_path / 'out').exists() or not any((tmp_path / 'out').iterdir())


def test_checkpoint_of_another_family(tmp_path, capsys):
    path = official_checkpoint('gst', random_model('gst_resnet50'), tmp_path / 'gst.pth', per_frame_2d=False)
    assert_fails_writing_nothing(['convert', 'tam', str(path)], "no tensor 'layer1.0.tam.G.0.weight'.*a gst checkpoint",
                                 tmp_path, capsys)
    assert_fails_writing_nothing(['convert', 'tsm', str(path)], "cannot place tensor 'module.base_model.layer1.0.conv2"
                                 ".weight'.*a gst checkpoint", tmp_path, capsys)


def test_checkpoint_of_another_depth(tmp_path, capsys):
    path = official_checkpoint('tsm', random_model('tsm_resnet18'), tmp_path / 'tsm18.pth')
    state = torch.load(path)['state_dict']
    torch.save({k: v for k, v in state.items() if not k.startswith('module.base_model.layer3.1.')}, path)
    assert_fails_writing_nothing(['convert', 'tsm', str(path)], r'no ResNet18/34/50/101: it has \(2, 2, 1, 2\) basic',
                                 tmp_path, capsys)
    gst = official_checkpoint('tsm', random_model('tsm_resnet18'), tmp_path / 'r18.pth')
    assert_fails_writing_nothing(['convert', 'gst', str(gst)], 'is a ResNet18, and gst models come in depths 50, 101',
                                 tmp_path, capsys)


def test_truncated_and_non_state_dict_files(tmp_path, capsys):
    path = official_checkpoint('tsm', random_model('tsm_resnet18'), tmp_path / 'tsm.pth')
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert_fails_writing_nothing(['convert', 'tsm', str(path)], 'cannot read checkpoint .*truncated', tmp_path, capsys)
    torch.save([1, 2, 3], path)
    assert_fails_writing_nothing(['convert', 'tsm', str(path)], 'holds no state dict .* but a list', tmp_path, capsys)
    torch.save({'state_dict': {'a': 1}}, path)
    assert_fails_writing_nothing(['convert', 'tsm', str(path)], 'holds no state dict', tmp_path, capsys)
    assert_fails_writing_nothing(['convert', 'tsm', str(tmp_path / 'none.pth')], 'does not exist', tmp_path, capsys)


def test_labels_of_the_wrong_length_and_unknown_release(tmp_path, capsys):
    path = official_checkpoint('tsm', random_model('tsm_resnet18'), tmp_path / 'tsm.pth')
    labels = tmp_path / 'classes.txt'
    labels.write_text('a\nb\n')
    assert_fails_writing_nothing(['convert', 'tsm', str(path), '--labels', str(labels)],
                                 'names 2 classes .* the checkpoint has 5; nothing was written', tmp_path, capsys)
    assert_fails_writing_nothing(['convert', 'tsm', str(path), '--release', 'tsm-r50-kinetics'],
                                 'release must be one of tsm-r50-sthv1-8f', tmp_path, capsys)
