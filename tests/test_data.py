"""Sampling, decoding, data set layouts and transforms, on tiny videos the tests write."""
import json
import logging

import pytest
import torch

from conftest import frames_of, write_frame_folder, write_video
from csst_zoo.data import (
    VideoDataset, VideoReadError, eval_transform, mirrored_classes, open_video, read_dataset, segment_indices,
    train_transform)
from csst_zoo.data.transforms import MultiScaleCrop, RandomHorizontalFlip, ThreeCrop

CFG = dict(input_size=(3, 4, 32, 32), crop_pct=0.875, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_segment_indices_test_mode_takes_centres():
    assert segment_indices(16, 8, train=False).tolist() == [[1, 3, 5, 7, 9, 11, 13, 15]]
    assert segment_indices(16, 8, train=False, clips=2).tolist() == [[0, 2, 4, 6, 8, 10, 12, 14],
                                                                      [1, 3, 5, 7, 9, 11, 13, 15]]
    assert segment_indices(8, 8, train=False).tolist() == [list(range(8))]


def test_segment_indices_train_mode_one_random_frame_per_segment():
    seen = set()
    for seed in range(50):
        idx = segment_indices(30, 4, train=True, clips=3, generator=torch.Generator().manual_seed(seed))
        assert idx.shape == (3, 4)
        for k, i in enumerate(idx.flatten().tolist()):
            segment = k % 4
            assert int(segment * 7.5) <= i < int((segment + 1) * 7.5)
        seen.update(idx[:, 0].tolist())
    assert seen == set(range(7))  # every frame of the first segment is drawn
    a, b = (segment_indices(30, 4, True, generator=torch.Generator().manual_seed(1)) for _ in range(2))
    assert torch.equal(a, b)


def test_segment_indices_errors():
    with pytest.raises(ValueError, match='has 5 frames, fewer than the 8 segments'):
        segment_indices(5, 8, train=False)
    with pytest.raises(ValueError, match='num_segments must be a positive integer'):
        segment_indices(5, 0, train=False)


@pytest.mark.parametrize('kind', ['frames', '.webm', '.mp4'])
def test_readers_return_the_requested_frames(kind, tmp_path):
    frames = frames_of(10)
    path = (write_frame_folder(tmp_path / 'v', frames) if kind == 'frames'
            else write_video(tmp_path / f'v{kind}', frames))
    video = open_video(path)
    assert video.num_frames == 10
    out = video.frames(torch.tensor([7, 2, 2]))
    assert out.dtype == torch.uint8 and out.shape == (3, 3, 32, 48)
    assert [round(v / 20) for v in out.float().mean(dim=(1, 2, 3)).tolist()] == [7, 2, 2]


def test_unreadable_videos_are_named(tmp_path):
    (tmp_path / 'broken.mp4').write_bytes(b'not a video')
    with pytest.raises(VideoReadError, match='cannot decode video .*broken.mp4'):
        open_video(tmp_path / 'broken.mp4')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(VideoReadError, match='holds no .jpg'):
        open_video(tmp_path / 'empty')
    with pytest.raises(VideoReadError, match='does not exist'):
        open_video(tmp_path / 'missing.webm')


def _sth_v1(root, ids_labels, names, prefix='something-something-v1', frames='20bn-something-something-v1'):
    root.mkdir()
    (root / f'{prefix}-labels.csv').write_text('\n'.join(names) + '\n')
    for split in ('train', 'validation'):
        (root / f'{prefix}-{split}.csv').write_text(''.join(f'{i};{names[y]}\n' for i, y in ids_labels))
    for i, y in ids_labels:
        write_frame_folder(root / frames / str(i), frames_of(8, label=y))


def test_something_v1_and_jester_layouts(tmp_path):
    names = ['Pushing something from left to right', 'Holding something']
    _sth_v1(tmp_path / 'v1', [(11, 1), (12, 0)], names)
    samples, classes = read_dataset('sthv1', tmp_path / 'v1', 'validation')
    assert classes == names
    assert samples == [(tmp_path / 'v1/20bn-something-something-v1/11', 1),
                       (tmp_path / 'v1/20bn-something-something-v1/12', 0)]
    _sth_v1(tmp_path / 'j', [(5, 0)], ['Swiping Left', 'Swiping Right'], 'jester-v1', '20bn-jester-v1')
    assert read_dataset('jester', tmp_path / 'j', 'train') == ([(tmp_path / 'j/20bn-jester-v1/5', 0)],
                                                              ['Swiping Left', 'Swiping Right'])
    (tmp_path / 'j/jester-v1-train.csv').write_text('5;Waving\n')
    with pytest.raises(ValueError, match=r"jester-v1-train.csv:1: label 'Waving' is not one of the 2 classes"):
        read_dataset('jester', tmp_path / 'j', 'train')
    with pytest.raises(ValueError, match="split must be one of"):
        read_dataset('jester', tmp_path / 'j', 'test')
    with pytest.raises(FileNotFoundError, match='something-something-v1-labels.csv does not exist'):
        read_dataset('sthv1', tmp_path / 'j', 'train')


def test_something_v2_layout(tmp_path):
    labels = {'Holding something next to something': '1', 'Pushing something from left to right': '0'}
    (tmp_path / 'something-something-v2-labels.json').write_text(json.dumps(labels))
    entries = [{'id': '78687', 'label': 'holding potato next to a bottle',
                'template': 'Holding [something] next to [something]', 'placeholders': ['potato', 'a bottle']}]
    for split in ('train', 'validation'):
        (tmp_path / f'something-something-v2-{split}.json').write_text(json.dumps(entries))
    write_video(tmp_path / '20bn-something-something-v2/78687.webm', frames_of(9))
    samples, names = read_dataset('sthv2', tmp_path, 'train')
    assert names == ['Pushing something from left to right', 'Holding something next to something']
    assert samples == [(tmp_path / '20bn-something-something-v2/78687.webm', 1)]
    assert open_video(samples[0][0]).num_frames == 9


def test_folder_and_csv_layouts(tmp_path):
    write_video(tmp_path / 'data/b_class/x.mp4', frames_of(8))
    write_frame_folder(tmp_path / 'data/a_class/y', frames_of(8))
    (tmp_path / 'data/a_class/notes.txt').write_text('not a video')
    samples, names = read_dataset('folder', tmp_path / 'data')
    assert names == ['a_class', 'b_class']
    assert samples == [(tmp_path / 'data/a_class/y', 0), (tmp_path / 'data/b_class/x.mp4', 1)]
    (tmp_path / 'data/list.csv').write_text('path,label\nb_class/x.mp4,run\na_class/y,jump\n')
    samples, names = read_dataset('csv', tmp_path / 'data/list.csv')
    assert names == ['jump', 'run'] and samples[0] == (tmp_path / 'data/b_class/x.mp4', 1)
    (tmp_path / 'data/bad.csv').write_text('file,class\nx,y\n')
    with pytest.raises(ValueError, match="header with the columns 'path' and 'label'"):
        read_dataset('csv', tmp_path / 'data/bad.csv')
    with pytest.raises(ValueError, match="dataset must be one of"):
        read_dataset('kinetics', tmp_path)


def _clip(views=1, t=4, h=40, w=60):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (views, t, 3, h, w), dtype=torch.uint8, generator=g)


def test_multi_scale_crop_is_one_crop_for_all_frames():
    clip = _clip()
    clip[:, 1:] = clip[:, :1]  # all frames alike
    for seed in range(10):
        out = MultiScaleCrop(24, generator=torch.Generator().manual_seed(seed))(clip)
        assert out.shape == (1, 4, 3, 24, 24)
        assert all(torch.equal(out[:, 0], out[:, i]) for i in range(4))


def test_flip_and_labels_that_are_never_flipped():
    clip = _clip()
    flip = RandomHorizontalFlip(p=1.0, keep={3})
    assert torch.equal(flip(clip, 0), clip.flip(-1))
    assert torch.equal(flip(clip, 3), clip)
    assert torch.equal(RandomHorizontalFlip(p=0.0)(clip, 0), clip)
    assert mirrored_classes(['Swiping Left', 'Waving', 'Turning hand clockwise', 'Pushing left to right']) == {0, 2, 3}
    assert train_transform(CFG, flip=False).flip is None


def test_train_and_eval_transforms_shapes_and_normalisation():
    clip = torch.full((2, 4, 3, 40, 60), 128, dtype=torch.uint8)
    out = train_transform(CFG)(clip, 0)
    assert out.shape == (2, 3, 4, 32, 32) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full_like(out, (128 / 255 - 0.5) / 0.25))
    assert eval_transform(CFG)(clip, 0).shape == (2, 3, 4, 32, 32)
    assert eval_transform(CFG, crops=3)(clip, 0).shape == (6, 3, 4, 32, 32)
    with pytest.raises(ValueError, match='crops must be 1'):
        eval_transform(CFG, crops=2)
    with pytest.raises(ValueError, match='clip must be uint8'):
        eval_transform(CFG)(clip.float(), 0)


def test_three_crop_takes_start_centre_end():
    clip = torch.zeros(1, 1, 3, 32, 96, dtype=torch.uint8)
    clip[..., :32], clip[..., 32:64], clip[..., 64:] = 10, 20, 30
    out = ThreeCrop(32)(clip)
    assert [int(v) for v in out.float().mean(dim=(1, 2, 3, 4))] == [10, 20, 30]


def test_dataset_reports_unreadable_and_short_videos(tmp_path, caplog):
    good = write_frame_folder(tmp_path / 'good', frames_of(8))
    short = write_frame_folder(tmp_path / 'short', frames_of(3))
    (tmp_path / 'bad.mp4').write_bytes(b'junk')
    dataset = VideoDataset([(short, 0), (tmp_path / 'bad.mp4', 1), (good, 2)], 4, eval_transform(CFG), train=False)
    with pytest.raises(VideoReadError, match='short: the video has 3 frames, fewer than the 4 segments'):
        dataset[0]
    with pytest.raises(VideoReadError, match='bad.mp4'):
        dataset[1]
    clip, label = dataset[2]
    assert clip.shape == (1, 3, 4, 32, 32) and label == 2
    dataset.skip_unreadable = True
    with caplog.at_level(logging.WARNING):
        clip, label = dataset[0]
    assert label == 2 and 'short' in caplog.text and 'bad.mp4' in caplog.text


@pytest.mark.parametrize('train, clips, crops', [(True, 2, 1), (False, 2, 3)], ids=['train', 'test-2x3'])
def test_clips_decoded_on_the_device_equal_the_workers(tmp_path, train, clips, crops):
    """defer_decoding: the worker reads the JPEG files, decode_clips decodes a batch's frames in one
    call and transforms each clip with its seed; on the CPU that is exactly the worker's clip."""
    from csst_zoo.data import EncodedClip, collate_clips, decode_clips
    folders = [write_frame_folder(tmp_path / f'v{k}', frames_of(9 + k, 40 + 8 * k, 56, label=k)) for k in range(3)]
    transform = train_transform(CFG) if train else eval_transform(CFG, crops)
    samples = [(f, k) for k, f in enumerate(folders)]
    decoded = VideoDataset(samples, 4, transform, train=train, clips=clips)
    deferred = VideoDataset(samples, 4, transform, train=train, clips=clips, defer_decoding=True)
    items = []
    for i in range(3):
        torch.manual_seed(i)
        items.append(decoded[i])
        torch.manual_seed(i)
        clip, label = deferred[i]
        assert isinstance(clip, EncodedClip) and len(clip.files) == clips * 4 and clip.views == clips
        items.append((clip, label))
    if not train:  # evaluation draws nothing: loading in the main process leaves dropout's RNG alone
        state = torch.get_rng_state()
        decoded[0], deferred[0]
        assert torch.equal(state, torch.get_rng_state())
    batch, labels = collate_clips(items[1::2])
    assert labels.tolist() == [0, 1, 2]
    on_device = decode_clips(batch, labels, transform, 'cpu')
    expected = torch.stack([clip for clip, _ in items[0::2]])
    assert on_device.shape == expected.shape == (3, clips * crops, 3, 4, 32, 32)
    assert torch.equal(on_device, expected)


def test_deferred_decoding_takes_only_jpeg_frame_folders(tmp_path):
    video = write_video(tmp_path / 'v.mp4', frames_of(8))
    pngs = tmp_path / 'png'
    pngs.mkdir()
    from torchvision.io import write_png
    for i, f in enumerate(frames_of(8), 1):
        write_png(torch.from_numpy(f).permute(2, 0, 1).contiguous(), str(pngs / f'{i:05d}.png'))
    for path, message in ((video, 'takes folders of JPEG frames .* not video files'),
                          (pngs, r'000\d\.png is not a JPEG file; frames decoded on the device must be .jpg/.jpeg')):
        with pytest.raises(VideoReadError, match=message):
            VideoDataset([(path, 0)], 4, eval_transform(CFG), train=False, defer_decoding=True)[0]
