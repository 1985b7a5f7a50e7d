"""mmaction2's released recognizers: conversion, weights by name (download, hash, weights_only), labels.

The files are made here in mmaction2 1.x's layout (what ``benchmarks/official_parity.py
--mmaction2`` checks against mmaction2's own code) and served from a loopback HTTP server."""
import functools
import hashlib
import http.server
import re
import threading
from pathlib import Path

import pytest
import torch

import csst_zoo
from csst_zoo import mmaction2
from csst_zoo.cli import main

from conftest import randomize_batchnorm


def to_mmaction2(model) -> dict:
    """The state dict of ``model`` (a c2d, tsm or tam zoo model) as mmaction2 1.x names it, 2D kernels."""
    tsm, tam = model.family.name == 'tsm', model.family.name == 'tam'
    out = {}
    for key, tensor in model.state_dict().items():
        if tensor.ndim == 5:
            tensor = tensor.squeeze(2)
        if key.startswith('fc.'):
            out['cls_head.fc_cls.' + key[3:]] = tensor
            continue
        key = re.sub(r'^conv1\.', 'conv1.conv.', key)
        key = re.sub(r'^bn1\.', 'conv1.bn.', key)
        key = re.sub(r'^(layer\d\.\d+)\.conv2\.tam\.global_branch\.', r'\1.tam.G.', key)
        key = re.sub(r'^(layer\d\.\d+)\.conv2\.tam\.local_branch\.', r'\1.tam.L.', key)
        key = re.sub(r'\.conv(\d)\.weight$', r'.conv\1.conv.weight', key)
        key = re.sub(r'\.bn(\d)\.', r'.conv\1.bn.', key)
        key = key.replace('.downsample.0.', '.downsample.conv.').replace('.downsample.1.', '.downsample.bn.')
        if tsm:
            key = re.sub(r'\.conv1\.conv\.weight$', '.conv1.conv.net.weight', key)
        if tam and '.tam.' not in key:
            key = re.sub(r'^(layer\d\.\d+)\.', r'\1.block.', key)
        out['backbone.' + key] = tensor
    return out


def save_mmaction2(model, path: Path) -> Path:
    """Save as mmengine's Runner does (a meta dict beside the state dict)."""
    torch.save({'meta': {'mmengine_version': '0.10.4', 'epoch': 50, 'seed': 0, 'time': '20220831_000000'},
                'state_dict': to_mmaction2(model)}, path)
    return path


def hashed(path: Path, digest_of: Path = None) -> Path:
    """``path`` renamed to end in the first 8 hex digits of the sha256 of ``digest_of`` (default: itself)."""
    digest = hashlib.sha256((digest_of or path).read_bytes()).hexdigest()[:8]
    return path.rename(path.with_name(f'{path.stem}-{digest}.pth'))


@pytest.fixture
def served(tmp_path):
    """A loopback HTTP server over a fresh folder: yields (folder, url of a file name)."""
    root = tmp_path / 'www'
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, lambda name: f'http://127.0.0.1:{server.server_address[1]}/{name}'
    server.shutdown()
    server.server_close()


def random_model(name, **kwargs):
    model = randomize_batchnorm(csst_zoo.create_model(name, **kwargs)).eval()
    with torch.no_grad():
        model.fc.weight.normal_(0, 0.05)
    return model


@pytest.mark.parametrize('name, kwargs', [
    ('c2d_resnet18', dict(num_classes=7)),                  # TSN: a per-frame ResNet
    ('tsm_resnet18', dict(num_classes=7)),
    ('tam_resnet50', dict(num_classes=7, num_frames=4)),    # TANet: T read from its weights
])
def test_convert_recognizer_gives_the_same_logits(name, kwargs, tmp_path):
    source = random_model(name, **kwargs)
    path = save_mmaction2(source, tmp_path / 'recognizer.pth')
    model, origin = mmaction2.convert_recognizer(path, num_frames=kwargs.get('num_frames'))
    assert model.pretrained_cfg['architecture'] == name and model.num_frames == source.num_frames
    assert origin == dict(repository='open-mmlab/mmaction2', file='recognizer.pth', release=None)
    assert model.pretrained_cfg['mean'] == pytest.approx((123.675 / 255, 116.28 / 255, 103.53 / 255))
    clip = torch.randn(2, 3, source.num_frames, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), source(clip), rtol=0, atol=1e-5)


def test_tag_downloads_checks_and_loads(served, tmp_path):
    """The real download path: a tag's URL (overlaid with a served file), sha256 prefix checked,
    read with weights_only, converted; its labels and protocol come with it."""
    root, url = served
    source = random_model('tsm_resnet50', num_classes=400)
    path = hashed(save_mmaction2(source, root / 'tsm_k400'))
    cache = tmp_path / 'cache'
    model = csst_zoo.create_model('tsm_resnet50.k400_mmaction2_8f', pretrained=True, cache_dir=cache,
                                  pretrained_cfg_overlay=dict(url=url(path.name))).eval()
    assert (cache / path.name).read_bytes() == path.read_bytes()
    assert 'state_dict' not in model.pretrained_cfg
    cfg = model.pretrained_cfg
    assert cfg['video_trained'] and len(cfg['label_names']) == 400 and cfg['label_names'][0] == 'abseiling'
    assert cfg['test_views'] == dict(clips=1, crops=10, resize=256, crop=224, combine='softmax')
    clip = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), source(clip), rtol=0, atol=1e-5)
    # the second time from the cache, with the server gone
    path.unlink()
    again = csst_zoo.create_model('tsm_resnet50.k400_mmaction2_8f', pretrained=True, cache_dir=cache,
                                  pretrained_cfg_overlay=dict(url=url(path.name)))
    torch.testing.assert_close(again.fc.weight, model.fc.weight)


def test_wrong_hash_and_truncated_download_are_errors_and_not_kept(served, tmp_path):
    root, url = served
    path = save_mmaction2(random_model('c2d_resnet50', num_classes=400), root / 'tsn.pth')
    for name, data in (('tsn_k400-0123abcd.pth', path.read_bytes()),                    # another file's hash
                       (f'tsn_k400-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}.pth',
                        path.read_bytes()[:100_000])):                                   # the file, cut short
        (root / name).write_bytes(data)
        with pytest.raises(ValueError, match='sha256 that its name says'):
            csst_zoo.create_model('c2d_resnet50.k400_mmaction2_tsn_8seg', pretrained=True, cache_dir=tmp_path / 'c',
                                  pretrained_cfg_overlay=dict(url=url(name)))
        assert not (tmp_path / 'c' / name).exists()
    with pytest.raises(ValueError, match='must end in -HASH.pth'):
        csst_zoo.create_model('c2d_resnet50.k400_mmaction2_tsn_8seg', pretrained=True, cache_dir=tmp_path / 'c',
                              pretrained_cfg_overlay=dict(url=url('tsn.pth')))


def test_unreachable_weights_fail_and_say_how_to_load_them_offline(tmp_path, served):
    root, url = served
    release = mmaction2.release_of('tsm_resnet50.k400_mmaction2_8f')
    with pytest.raises(RuntimeError, match=rf'could not load pretrained weights for {release.name} .*HTTPError.*'
                                           rf'file="PATH/{release.filename}"'):
        csst_zoo.create_model(release.name, pretrained=True, cache_dir=tmp_path / 'c',
                              pretrained_cfg_overlay=dict(url=url(release.filename)))  # not served: 404
    path = save_mmaction2(random_model('tsm_resnet50', num_classes=400), tmp_path / release.filename)
    model = csst_zoo.create_model(release.name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert model.pretrained_cfg['video_trained'] and model.pretrained_cfg['label_names'][0] == 'abseiling'


class RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickle_that_would_run_code_is_refused(served, tmp_path):
    root, url = served
    payload = RunsCode()
    payload.marker = str(tmp_path / 'ran')
    path = root / 'evil.pth'
    torch.save({'state_dict': {'backbone.conv1.conv.weight': torch.zeros(1)}, 'meta': payload}, path)
    path = hashed(path)
    with pytest.raises(ValueError, match='could run as code; it was not loaded'):
        csst_zoo.create_model('c2d_resnet50.k400_mmaction2_tsn_8seg', pretrained=True, cache_dir=tmp_path / 'c',
                              pretrained_cfg_overlay=dict(url=url(path.name)))
    assert not (tmp_path / 'ran').exists()


def test_label_names():
    assert len(mmaction2.label_names('k400')) == 400 == len(set(mmaction2.label_names('k400')))
    for data in ('sthv1', 'sthv2'):
        assert len(mmaction2.label_names(data)) == 174 == len(set(mmaction2.label_names(data)))
    assert mmaction2.label_names('sthv2')[0] == 'Approaching something with your camera'
    with pytest.raises(ValueError, match='dataset must be one of k400, sthv1, sthv2'):
        mmaction2.label_names('ucf101')


def test_every_release_is_a_listed_tag_named_by_its_data():
    tags = csst_zoo.list_models(pretrained=True)
    for release in mmaction2.RELEASES:
        assert release.name in tags
        assert release.tag.split('_')[0] == release.data
        assert re.search(r'_\d{8}-[0-9a-f]{8}\.pth$', release.url)
    names = [r.name for r in mmaction2.RELEASES]
    assert len(names) == len(set(names))
    import timm
    assert set(timm.list_pretrained('*mmaction2*')) == set(names)
    # timm's default tag of a name stays the ImageNet one
    assert csst_zoo.create_model('tsm_resnet50').pretrained_cfg['tag'] == 'tv_in1k'


def test_inflated_tag_takes_tsn_weights_into_csst(served, tmp_path):
    root, url = served
    tsn = random_model('c2d_resnet50', num_classes=400)
    path = hashed(save_mmaction2(tsn, root / 'tsn8'))
    model = csst_zoo.create_model('csst_resnet50.k400_mmaction2_tsn_inflated', pretrained=True,
                                  cache_dir=tmp_path / 'c', pretrained_cfg_overlay=dict(url=url(path.name)))
    assert not model.pretrained_cfg['video_trained']  # the family's temporal layers start random
    torch.testing.assert_close(model.layer1[0].bn1.running_mean, tsn.layer1[0].bn1.running_mean)
    torch.testing.assert_close(model.fc.weight, tsn.fc.weight)
    torch.testing.assert_close(model.conv1.weight, tsn.conv1.weight)


def test_bad_files_name_what_is_accepted(tmp_path):
    not_mm = tmp_path / 'TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth'
    torch.save({'state_dict': {'module.base_model.conv1.weight': torch.zeros(64, 3, 7, 7)}}, not_mm)
    with pytest.raises(ValueError, match='not an mmaction2 recognizer.*csst-zoo convert tsm'):
        mmaction2.convert_recognizer(not_mm)
    nl = tmp_path / 'nl.pth'
    state = to_mmaction2(csst_zoo.create_model('tsm_resnet18'))
    torch.save({'state_dict': {**state, 'backbone.layer2.non_local_block.g.conv.weight': torch.zeros(1)}}, nl)
    with pytest.raises(ValueError, match='non-local.*accepted: mmaction2 TSN, TSM, TANet'):
        mmaction2.convert_recognizer(nl)
    i3d = tmp_path / 'i3d.pth'
    torch.save({'state_dict': {**state, 'backbone.conv1.conv.weight': torch.zeros(64, 3, 5, 7, 7)}}, i3d)
    with pytest.raises(ValueError, match='3D recognizer.*accepted: mmaction2 TSN'):
        mmaction2.convert_recognizer(i3d)
    with pytest.raises(ValueError, match='is an mmaction2 recognizer.*csst-zoo convert mmaction2'):
        from csst_zoo.convert import convert_checkpoint
        convert_checkpoint('tsm', nl)
    c2d3d = tmp_path / 'c2d_r50-in1k-pre_8xb32-8x8x1-100e_kinetics400-rgb_20221027-3ca304fa.pth'
    c2d3d.write_bytes(b'')
    with pytest.raises(ValueError, match="C2D backbone.*-nopool"):
        mmaction2.convert_recognizer(c2d3d)
    renamed = tmp_path / mmaction2.release_of('tam_resnet50.sthv1_mmaction2_8f').filename
    torch.save({'state_dict': state}, renamed)
    with pytest.raises(ValueError, match='holds a tsm_resnet18'):
        mmaction2.convert_recognizer(renamed)
    with pytest.raises(ValueError, match='unknown pretrained tag.*tsm_resnet50.k400_mmaction2_16f'):
        csst_zoo.create_model('tsm_resnet50.k400_mmaction2_32f')


def test_cli_convert_mmaction2_writes_a_checkpoint_with_labels_and_protocol(tmp_path, capsys):
    release = mmaction2.release_of('tsm_resnet50.sthv2_mmaction2_8f')
    source = random_model('tsm_resnet50', num_classes=174)
    path = save_mmaction2(source, tmp_path / release.filename)
    assert main(['convert', 'mmaction2', str(path), '-o', str(tmp_path / 'out')]) == 0
    model = csst_zoo.create_model(f'local-dir:{tmp_path / "out"}').eval()
    cfg = model.pretrained_cfg
    assert cfg['label_names'][0] == 'Approaching something with your camera' and cfg['video_trained']
    assert cfg['test_views']['clips'] == 2 and cfg['test_views']['crops'] == 3
    card = (tmp_path / 'out' / 'README.md').read_text()
    assert 'OpenMMLab' in card and '62.72' in card
    clip = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), source(clip), rtol=0, atol=1e-5)


# mmaction2 1.2.0's own transforms in test mode (start_index 0), computed in its environment:
# SampleFrames(clip_len, frame_interval, num_clips, test_mode=True).transform({'total_frames': n, ...})['frame_inds']
MMACTION2_TEST_INDICES = {
    ('segments', 1, 8, 1): {
        8: [0, 1, 2, 3, 4, 5, 6, 7], 30: [1, 5, 9, 13, 16, 20, 24, 28], 37: [2, 6, 11, 16, 20, 25, 30, 34],
        100: [6, 18, 31, 43, 56, 68, 81, 93], 301: [18, 56, 94, 131, 169, 206, 244, 282]},
    ('dense', 8, 8, 10): {  # the first index of each of the 10 clips (each clip: + 8 k, wrapped)
        8: [0] * 10, 30: [0] * 10, 100: [0, 5, 10, 14, 19, 24, 29, 33, 38, 43],
        301: [0, 27, 54, 81, 108, 136, 163, 190, 217, 244]},
}


def test_sampling_equals_mmaction2_test_mode():
    from csst_zoo.data import clip_indices
    for n, expected in MMACTION2_TEST_INDICES['segments', 1, 8, 1].items():
        assert clip_indices(n, 8, train=False, sampling='segments').flatten().tolist() == expected
    for n, starts in MMACTION2_TEST_INDICES['dense', 8, 8, 10].items():
        indices = clip_indices(n, 8, train=False, clips=10, sampling='dense', frame_interval=8)
        assert indices.tolist() == [[(s + 8 * k) % n for k in range(8)] for s in starts]
    # one dense clip sits in the middle; training draws a start where the clip fits
    assert clip_indices(100, 4, train=False, sampling='dense', frame_interval=2).tolist() == [[46, 48, 50, 52]]
    drawn = clip_indices(100, 4, train=True, clips=50, sampling='dense', frame_interval=2,
                         generator=torch.Generator().manual_seed(0))
    assert drawn[:, 0].min() >= 0 and drawn[:, -1].max() <= 99 and (drawn.diff(dim=1) == 2).all()
    with pytest.raises(ValueError, match="sampling must be one of segments, dense, got 'tsn'"):
        clip_indices(100, 4, train=False, sampling='tsn')


@pytest.mark.parametrize('overlay, expected', [
    (dict(), [1, 4, 7, 10]),                                         # TSN segments over 12 frames
    (dict(sampling='dense', frame_interval=2), [2, 4, 6, 8]),        # a clip of 4 frames 2 apart, centred
])
def test_predict_and_eval_sample_as_the_checkpoint_says(overlay, expected, tmp_path, monkeypatch):
    from conftest import frames_of, write_frame_folder
    from csst_zoo.data import datasets
    from csst_zoo.engine import predict_video
    seen = []
    original = datasets.clip_indices

    def recording(*args, **kwargs):
        seen.append(original(*args, **kwargs).flatten().tolist())
        return original(*args, **kwargs)
    monkeypatch.setattr(datasets, 'clip_indices', recording)
    model = csst_zoo.create_model('c2d_resnet18', num_frames=4, num_classes=3, pretrained_cfg_overlay=overlay)
    folder = write_frame_folder(tmp_path / 'video', frames_of(12))
    predict_video(model, folder)
    assert seen == [expected]
    csst_zoo.save_pretrained(model, tmp_path / 'ckpt')
    reloaded = csst_zoo.create_model(f'local-dir:{tmp_path / "ckpt"}')
    assert (reloaded.pretrained_cfg['sampling'], reloaded.pretrained_cfg['frame_interval']) == (
        overlay.get('sampling', 'segments'), overlay.get('frame_interval', 1))
    (tmp_path / 'data' / 'a').mkdir(parents=True)
    write_frame_folder(tmp_path / 'data' / 'a' / 'v1', frames_of(12))
    for c in 'bc':
        write_frame_folder(tmp_path / 'data' / c / 'v1', frames_of(12))
    seen.clear()
    assert main(['eval', f'local-dir:{tmp_path / "ckpt"}', '--dataset', 'folder', '--data-root',
                 str(tmp_path / 'data'), '--split', 'validation', '--workers', '0', '--no-progress',
                 '-o', str(tmp_path / 'eval.json')]) == 0
    assert seen == [expected] * 3


def test_untrained_models_say_so(capsys, tmp_path):
    from csst_zoo.engine import untrained_notice
    assert 'holds no video-trained weights' in untrained_notice(csst_zoo.create_model('c2d_resnet18'))
    model = csst_zoo.create_model('c2d_resnet18', num_classes=3)
    csst_zoo.save_pretrained(model, tmp_path / 'ckpt')
    assert untrained_notice(csst_zoo.create_model(f'local-dir:{tmp_path / "ckpt"}')) is None
    # a video-trained tag with a new head is no longer video-trained
    tagged = csst_zoo.create_model('c2d_resnet50.k400_mmaction2_tsn_8seg', pretrained=True, num_classes=5,
                                   pretrained_cfg_overlay=dict(state_dict=to_mmaction2_converted(400)))
    assert 'holds no video-trained weights' in untrained_notice(tagged)
    from conftest import frames_of, write_frame_folder
    folder = write_frame_folder(tmp_path / 'video', frames_of(10))
    assert main(['predict', 'c2d_resnet18', str(folder)]) == 0
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'c2d_resnet18 holds no video-trained weights' in err
    assert 'tsm_resnet50.k400_mmaction2_8f' in err


def to_mmaction2_converted(num_classes):
    """A 2D timm-layout ResNet50 state dict, as ``recognizer_state_dict`` returns one."""
    import timm
    return timm.create_model('resnet50', num_classes=num_classes).state_dict()


def test_ten_crop_and_protocol_sizes():
    from csst_zoo.data import eval_transform
    from csst_zoo.data.transforms import TenCrop
    clip = torch.arange(40 * 50, dtype=torch.uint8).reshape(1, 1, 1, 40, 50).expand(1, 2, 3, 40, 50)
    out = TenCrop(40, 20)(clip)
    assert out.shape == (10, 2, 3, 20, 20)
    torch.testing.assert_close(out[4], clip[0, :, :, 10:30, 15:35])            # the centre
    torch.testing.assert_close(out[8], out[3].flip(-1))                         # the mirrored bottom right
    cfg = csst_zoo.create_model('tam_resnet50.sthv1_mmaction2_8f').pretrained_cfg
    assert [type(op).__name__ for op in eval_transform(cfg, 3, protocol=True).spatial] == ['ThreeCrop']
    assert eval_transform(cfg, 3, protocol=True).spatial[0].size == 256
    assert eval_transform(cfg, 3).spatial[0].size == 224


def test_softmax_joined_views_follow_the_checkpoint():
    from csst_zoo.engine.inference import view_logits
    logits = torch.tensor([[2.0, 0.0, -1.0], [-1.0, 3.0, 0.0]])

    class Fixed(torch.nn.Module):
        pretrained_cfg = {}

        def forward(self, x):
            return logits
    model = Fixed()
    clips = torch.zeros(1, 2, 3, 1, 1, 1)
    torch.testing.assert_close(view_logits(model, clips), logits.mean(0, keepdim=True))
    model.pretrained_cfg = {'test_views': {'combine': 'softmax'}}
    torch.testing.assert_close(view_logits(model, clips).softmax(-1), logits.softmax(-1).mean(0, keepdim=True))


def test_eval_views_protocol(tmp_path, capsys):
    from conftest import frames_of, write_frame_folder
    for c in 'abc':
        write_frame_folder(tmp_path / 'data' / c / 'v1', frames_of(12))
    common = ['--dataset', 'folder', '--data-root', str(tmp_path / 'data'), '--workers', '0', '--no-progress',
              '--num-classes', '3', '-o', str(tmp_path / 'eval.json')]
    assert main(['eval', 'c2d_resnet18', '--views', 'protocol', *common]) == 2
    assert '--views protocol: c2d_resnet18 comes with no published test protocol' in capsys.readouterr().err
    assert main(['eval', 'c2d_resnet18', '--views', '1x10', *common]) == 0
    assert '"views": "1x10"' in (tmp_path / 'eval.json').read_text()


def test_models_table(capsys):
    from csst_zoo.models._table import weights_table
    assert main(['models', '*sthv1*']) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[2].startswith('tam_resnet50.sthv1_mmaction2_16f') and '50.95' in out[2]
    text = (Path(__file__).resolve().parents[1] / 'results' / 'weights.md').read_text()
    assert text.split('\n', 2)[2] == weights_table(markdown=True), 'results/weights.md is stale: csst-zoo models -o'
    assert main(['models', 'nothing*']) == 2


@pytest.fixture
def hub_dir(tmp_path):
    """torch.hub's folder (timm's download cache is its checkpoints/) in ``tmp_path``, for one test."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield tmp_path / 'hub'
    torch.hub.set_dir(old)


def test_cli_predict_takes_a_tag_and_names_its_classes(tmp_path, hub_dir, capsys):
    """A tag on the command line loads its weights: here from the cache, where a first download puts them."""
    from conftest import frames_of, write_frame_folder
    release = mmaction2.release_of('tsm_resnet50.k400_mmaction2_8f')
    cache = hub_dir / 'checkpoints'
    cache.mkdir(parents=True)
    save_mmaction2(random_model('tsm_resnet50', num_classes=400), cache / release.filename)
    folder = write_frame_folder(tmp_path / 'video', frames_of(16))
    assert main(['predict', release.name, str(folder)]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert len(rows) == 5 and all(row.split('%  ')[1] in mmaction2.label_names('k400') for row in rows)
    assert 'no video-trained weights' not in captured.err


def test_training_samples_as_told_and_the_checkpoint_keeps_it(jester, tmp_path, monkeypatch):
    from csst_zoo.data import datasets
    from csst_zoo.engine import TrainConfig, fit
    calls = []
    original = datasets.clip_indices
    monkeypatch.setattr(datasets, 'clip_indices', lambda *a, **k: calls.append((a, k)) or original(*a, **k))
    fit(TrainConfig(model='c2d_resnet18', dataset='jester', data_root=str(jester), output=str(tmp_path / 'run'),
                    pretrained=False, num_frames=2, size=32, epochs=1, warmup_epochs=0, batch_size=3, workers=0,
                    progress=False, sampling='dense', frame_interval=3))
    assert {(a[4:6], a[2]) for a, _ in calls} == {(('dense', 3), True), (('dense', 3), False)}  # train and val
    best = csst_zoo.create_model(f'local-dir:{tmp_path / "run" / "best"}')
    assert (best.pretrained_cfg['sampling'], best.pretrained_cfg['frame_interval']) == ('dense', 3)
