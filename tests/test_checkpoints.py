"""Video checkpoints: save_pretrained / push_to_hub, and loading through huggingface_hub and timm."""
import hashlib
import json
import re
from pathlib import Path

import huggingface_hub
import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

import csst_zoo
from csst_zoo.hub import model_card, model_config
from conftest import n_params

FRAMES = 6
LABELS = [f'class {i}' for i in range(7)]


def trained(name, **kwargs):
    """A model with non-default arguments and non-trivial weights everywhere (BN stats too)."""
    model = csst_zoo.create_model(name, num_classes=7, num_frames=FRAMES, **kwargs)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t) * 0.05 + (1.0 if t.ndim == 1 else 0.0))
    return model.eval()


def logits(model, seed=1):
    x = torch.randn(2, 3, FRAMES, 32, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model.eval()(x)


def make_hub_cache(cache: Path, repo_id: str, folder: Path, revision: str = 'main') -> str:
    """Lay ``folder`` out as huggingface_hub's cache does: blobs by hash, a snapshot per
    commit of symlinks to them, and refs/<revision> naming the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f'{repo_id}@{revision}'.encode()).hexdigest()
    (repo / 'blobs').mkdir(parents=True, exist_ok=True)
    (repo / 'snapshots' / commit).mkdir(parents=True)
    for f in folder.iterdir():
        data = f.read_bytes()
        blob = repo / 'blobs' / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (repo / 'snapshots' / commit / f.name).symlink_to(Path('..', '..', 'blobs', blob.name))
    (repo / 'refs').mkdir(exist_ok=True)
    (repo / 'refs' / revision).write_text(commit)
    return commit


@pytest.mark.parametrize('name, kwargs', [
    ('csst_resnet18', dict(alpha=0.25, groups=4)),
    ('c3dg_resnet18', dict(groups=4)),
    ('p3d_resnet18', {}),
])
def test_save_load_round_trip_is_bit_identical(name, kwargs, tmp_path):
    model = trained(name, **kwargs)
    csst_zoo.save_pretrained(model, tmp_path / 'ckpt', labels=LABELS)
    assert sorted(p.name for p in (tmp_path / 'ckpt').iterdir()) == ['README.md', 'config.json', 'model.safetensors']
    config = json.loads((tmp_path / 'ckpt' / 'config.json').read_text())
    assert config['architecture'] == name
    assert config['model_args'] == dict(num_classes=7, num_frames=FRAMES, in_chans=3, global_pool='avg', **kwargs)
    assert config['pretrained_cfg']['input_size'] == [3, FRAMES, 224, 224]
    assert config['csst_zoo_version'] == csst_zoo.__version__

    loaded = csst_zoo.create_model(f'local-dir:{tmp_path / "ckpt"}')
    assert torch.equal(logits(loaded), logits(model))
    assert loaded.num_frames == FRAMES and loaded.family_args == model.family_args
    assert list(loaded.pretrained_cfg['label_names']) == LABELS
    assert loaded.pretrained_cfg['file'] == str(tmp_path / 'ckpt' / 'model.safetensors')


def test_hf_hub_cache_csst_zoo_and_timm_paths(tmp_path, monkeypatch):
    """Real huggingface_hub resolution (refs -> snapshot -> blob) on a cache the test lays out."""
    model, other = trained('csst_resnet18', alpha=0.75), trained('csst_resnet18', alpha=0.75)
    torch.manual_seed(5)
    with torch.no_grad():
        other.fc.weight.add_(1.0)
    csst_zoo.save_pretrained(model, tmp_path / 'main', labels=LABELS)
    csst_zoo.save_pretrained(other, tmp_path / 'v1')
    cache = tmp_path / 'cache'
    make_hub_cache(cache, 'org/csst-test', tmp_path / 'main')
    commit = make_hub_cache(cache, 'org/csst-test', tmp_path / 'v1', revision='v1')

    loaded = csst_zoo.create_model('hf-hub:org/csst-test', cache_dir=cache, local_files_only=True)
    assert torch.equal(logits(loaded), logits(model))
    assert loaded.pretrained_cfg['hf_hub_id'] == 'org/csst-test'
    assert list(loaded.pretrained_cfg['label_names']) == LABELS
    for kw in (dict(revision='v1'), dict(revision=commit)):
        assert torch.equal(logits(csst_zoo.create_model(
            'hf-hub:org/csst-test', cache_dir=cache, local_files_only=True, **kw)), logits(other))
    assert torch.equal(logits(csst_zoo.create_model(
        'hf-hub:org/csst-test@v1', cache_dir=cache, local_files_only=True)), logits(other))

    # timm's own hf-hub path (config.json -> model_args -> our factory -> timm's load_state_dict_from_hf)
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
    via_timm = timm.create_model('hf-hub:org/csst-test', pretrained=True, cache_dir=cache)
    assert torch.equal(logits(via_timm), logits(model))
    assert tuple(via_timm.pretrained_cfg['label_names']) == tuple(LABELS)

    with pytest.raises(FileNotFoundError, match='neither in the cache'):
        csst_zoo.create_model('hf-hub:org/missing', cache_dir=cache, local_files_only=True)
    with pytest.raises(FileNotFoundError, match="no revision 'v2'|neither in the cache"):
        csst_zoo.create_model('hf-hub:org/csst-test', revision='v2', cache_dir=cache, local_files_only=True)


def test_overlay_file_keeps_the_fitting_classifier(tmp_path):
    model = trained('csst_resnet18', alpha=0.25, groups=4)
    csst_zoo.save_pretrained(model, tmp_path)
    loaded = csst_zoo.create_model(
        'csst_resnet18', pretrained=True, num_classes=7, num_frames=FRAMES, alpha=0.25, groups=4,
        pretrained_cfg_overlay=dict(file=str(tmp_path / 'model.safetensors')))
    assert torch.equal(logits(loaded), logits(model))


def test_new_head_for_fine_tuning(tmp_path):
    model = trained('c2d_resnet18')
    csst_zoo.save_pretrained(model, tmp_path, labels=LABELS)
    tuned = csst_zoo.create_model(f'local-dir:{tmp_path}', num_classes=3)
    assert tuned.fc.out_features == 3 and 'label_names' not in tuned.pretrained_cfg
    assert torch.equal(tuned.layer4[1].conv2.weight, model.layer4[1].conv2.weight)
    assert not csst_zoo.create_model(f'local-dir:{tmp_path}', pretrained=False).fc.weight.equal(model.fc.weight)


@pytest.fixture
def saved(tmp_path):
    folder = tmp_path / 'ckpt'
    csst_zoo.save_pretrained(trained('csst_resnet18', alpha=0.25), folder, labels=LABELS)
    return folder


def _edit_config(folder, **changes):
    config = json.loads((folder / 'config.json').read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    (folder / 'config.json').write_text(json.dumps(config))


def test_unknown_architecture(saved):
    _edit_config(saved, architecture='csst_resnet152')
    with pytest.raises(ValueError, match="architecture 'csst_resnet152', which csst-zoo does not have; "
                                         "accepted: .*csst_resnet50"):
        csst_zoo.create_model(f'local-dir:{saved}')


def test_malformed_origin_of_a_converted_checkpoint(saved):
    _edit_config(saved, converted_from='TSM_something_RGB.pth')
    with pytest.raises(ValueError, match="'converted_from' must be a JSON object naming the authors' 'repository' "
                                         "and 'file'"):
        csst_zoo.create_model(f'local-dir:{saved}')


def test_state_dict_that_does_not_fit(saved):
    _edit_config(saved, model_args=dict(alpha=0.5))  # the weights are of an alpha=0.25 model
    with pytest.raises(ValueError, match="does not fit csst_resnet18: 'layer1.0.conv1.spatial.weight' has shape"):
        csst_zoo.create_model(f'local-dir:{saved}')


@pytest.mark.parametrize('edit, message', [
    (lambda sd: sd.pop('layer2.0.bn1.running_mean'), "it has no tensor 'layer2.0.bn1.running_mean'"),
    (lambda sd: sd.update(extra=torch.zeros(1)), "unexpected tensor 'extra'"),
])
def test_missing_or_unexpected_keys(saved, edit, message):
    state_dict = load_file(saved / 'model.safetensors')
    edit(state_dict)
    save_file(state_dict, saved / 'model.safetensors')
    with pytest.raises(ValueError, match=message):
        csst_zoo.create_model(f'local-dir:{saved}')


def test_truncated_or_pickle_weights(saved):
    weights = saved / 'model.safetensors'
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='not a readable safetensors file'):
        csst_zoo.create_model(f'local-dir:{saved}')
    torch.save({'w': torch.zeros(1)}, weights)
    with pytest.raises(ValueError, match='is a pickle .* reads only safetensors'):
        csst_zoo.create_model(f'local-dir:{saved}')


def test_hub_repo_with_only_pickle_weights(saved, tmp_path):
    (saved / 'model.safetensors').unlink()
    torch.save({}, saved / 'pytorch_model.bin')
    make_hub_cache(tmp_path / 'cache', 'org/pickled', saved)
    with pytest.raises(FileNotFoundError,
                       match='model.safetensors .*reads only model.safetensors weights, never pickles'):
        csst_zoo.create_model('hf-hub:org/pickled', cache_dir=tmp_path / 'cache', local_files_only=True)


def test_bad_save_changes_nothing(saved, tmp_path):
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    other = trained('c2d_resnet18')
    with pytest.raises(ValueError, match='labels must be 7 strings'):
        csst_zoo.save_pretrained(other, saved, labels=['a', 'b'])
    (tmp_path / 'file').write_text('')
    with pytest.raises(OSError):
        csst_zoo.save_pretrained(other, tmp_path / 'file' / 'ckpt')
    with pytest.raises(TypeError, match='must be a csst-zoo VideoResNet'):
        csst_zoo.save_pretrained(timm.create_model('resnet18'), saved)
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before


def test_push_to_hub_uploads_the_saved_files(tmp_path, monkeypatch):
    uploaded = {}

    class Repo:
        repo_id = 'me/csst-test'

    monkeypatch.setattr(huggingface_hub.HfApi, 'create_repo', lambda self, repo_id, **kw: Repo())
    monkeypatch.setattr(huggingface_hub.HfApi, 'upload_folder', lambda self, folder_path, **kw: uploaded.update(
        {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}, kwargs=kw))
    model = trained('csst_resnet18')
    csst_zoo.push_to_hub(model, 'me/csst-test', labels=LABELS, commit_message='first')
    assert uploaded['kwargs']['repo_id'] == 'me/csst-test' and uploaded['kwargs']['commit_message'] == 'first'
    card = uploaded['README.md'].decode()
    metadata = huggingface_hub.ModelCard(card).data
    assert (metadata.library_name, metadata.pipeline_tag) == ('timm', 'video-classification')
    assert "csst_zoo.create_model('hf-hub:me/csst-test')" in card
    assert json.loads(uploaded['config.json'])['label_names'] == LABELS


def test_model_card_marks_reported_results():
    model = csst_zoo.create_model('csst_resnet18', num_classes=174)
    card = model_card(model_config(model))
    assert 'value: 43.1' in card and 'verified: false' in card and '- something-something-v1' in card
    assert 'Top-1 (reported by the paper, not measured on this checkpoint)' in card
    # independent figures: the parameters summed here, and the paper's Table 2 (18.81 G for CSST-R18 at
    # 8 x 224 x 224; the counts of results/flops.md are within 1% of it)
    assert f'| parameters | {n_params(model) / 1e6:.2f} M |' in card
    data = huggingface_hub.ModelCard(card).data  # the metadata parses as the Hub reads it
    assert data.library_name == 'timm' and data.pipeline_tag == 'video-classification'
    assert [(r.metric_type, r.metric_value, r.verified) for r in data.eval_results] == [
        ('top-1', 43.1, False)]
    gflops = re.search(r'\| FLOPs \| ([\d.]+) G multiply-adds per clip of 8 x 224 x 224', card)
    assert float(gflops.group(1)) == pytest.approx(18.81, rel=0.01)
    other = model_card(model_config(csst_zoo.create_model('csst_resnet18', num_classes=10)))
    assert 'model-index' not in other and 'reports no result' in other


def test_repository_model_card_is_the_rendered_template():
    root = Path(__file__).resolve().parents[1]
    expected = model_card(model_config(csst_zoo.create_model('csst_resnet50', num_classes=174, num_frames=8)),
                          repo_id='org/csst_resnet50')
    assert (root / 'MODEL_CARD.md').read_text() == expected, (
        'regenerate: csst-zoo model-card csst_resnet50 --num-classes 174 --repo-id org/csst_resnet50 -o MODEL_CARD.md')
