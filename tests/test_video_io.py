"""Streaming and seeking decoding: the frames kept equal plain full decoding, and files from the real world
(rotation, variable frame rate, odd sizes, audio first, 10-bit, grayscale, numbering gaps)."""
import collections

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from conftest import decode_all, frames_of, write_frame_folder, write_video
from csst_zoo.data import VideoDataset, VideoReadError, eval_transform, open_video
from csst_zoo.data.readers import VideoFile

CFG = dict(input_size=(3, 4, 32, 32), crop_pct=0.875, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def textured(n, height=40, width=56, seed=0):
    """Frames with moving texture, so that decoding the wrong frame or the wrong way shows."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width + n, 3), dtype=np.uint8)
    return np.stack([base[:, i:i + width] for i in range(n)])


# every container/codec pair the readers support, with the pixel format it is written in
FORMATS = [('.mp4', 'libx264', 'yuv420p'), ('.webm', 'libvpx', 'yuv420p'), ('.mkv', 'libvpx-vp9', 'yuv420p'),
           ('.avi', 'mjpeg', 'yuvj420p'), ('.mov', 'prores_ks', 'yuv422p10le')]


@pytest.mark.parametrize('suffix,codec,pix_fmt', FORMATS, ids=[f[0] + ':' + f[1] for f in FORMATS])
def test_streaming_decode_equals_full_decoding(suffix, codec, pix_fmt, tmp_path):
    path = write_video(tmp_path / f'v{suffix}', textured(23), codec=codec, pix_fmt=pix_fmt)
    full = decode_all(path)
    video = open_video(path)
    assert video.num_frames == len(full) == 23
    indices = torch.tensor([22, 0, 7, 7, 13])
    assert torch.equal(video.frames(indices), full[indices])
    # resized while decoding = resized afterwards
    assert torch.equal(video.frames(indices, short_side=24), TF.resize(full[indices], [24], antialias=True))


# files with several key frames, where decode seeks: the encoders' own options
SEEKABLE = {
    'h264 b-frames': ('.mp4', 'libx264', {'g': '6', 'bf': '3'}),
    'h264 open gop': ('.mp4', 'libx264', {'x264-params': 'keyint=6:min-keyint=6:open-gop=1:bframes=3:scenecut=0'}),
    'hevc': ('.mp4', 'libx265', {'x265-params': 'keyint=6:min-keyint=6:bframes=3:open-gop=1:log-level=none'}),
    'vp9': ('.webm', 'libvpx-vp9', {'g': '6'}),
    'vp8 in mkv': ('.mkv', 'libvpx', {'g': '6'}),
}


def seeking_only(video, wanted):
    """The frames the seeking pass gives alone, and the targets it left (none when it trusted the file)."""
    import av
    from csst_zoo.data.readers import _image
    pending, got = collections.deque(wanted), {}
    with av.open(str(video.path)) as container:
        for i, frame in video._seeking(container, pending):
            got[i] = _image(frame, None)
            pending.popleft()
    return got, list(pending)


@pytest.mark.parametrize('case', list(SEEKABLE))
def test_seeking_decode_equals_full_decoding(case, tmp_path):
    suffix, codec, options = SEEKABLE[case]
    path = write_video(tmp_path / f'v{suffix}', textured(40), codec=codec, codec_options=options)
    full = decode_all(path)
    video = VideoFile(path)
    assert video.num_frames == len(full) == 40
    assert len(video._seek_index.keys) >= 5
    # each after a key frame past the one before; then runs of nearby frames, where the skipped
    # non-reference frames lie between the wanted ones
    for wanted in ([1, 14, 15, 26, 39], list(range(0, 40, 3))):
        got, left = seeking_only(video, wanted)
        assert left == [] and all(torch.equal(got[i], full[i]) for i in wanted)
    assert torch.equal(video.frames([39, 1, 26, 14, 15, 14]), full[[39, 1, 26, 14, 15, 14]])


def test_non_reference_frames_are_skipped_unless_wanted(tmp_path):
    import av
    from csst_zoo.data.readers import _decoded_skipping
    path = write_video(tmp_path / 'v.mp4', textured(40), codec_options={'g': '40', 'bf': '3'})
    pts = VideoFile(path)._seek_index.order

    def decoded(wanted):
        with av.open(str(path)) as container:
            return [frame.pts for frame in _decoded_skipping(container, container.streams.video[0], wanted)]

    assert decoded(set(pts)) == pts
    some = decoded({pts[5], pts[6]})
    assert pts[5] in some and pts[6] in some and len(some) < 30  # x264's B-frames, all but the pyramid's middle


def test_seeking_with_a_variable_frame_rate_and_a_long_gop(tmp_path):
    times = [round(1000 * t ** 1.3 / 8) for t in range(40)]  # ever longer gaps
    for name, options, keys in (('vfr.mp4', {'g': '5', 'bf': '2'}, 8), ('long.mp4', {'g': '1000'}, 1)):
        path = write_video(tmp_path / name, textured(40), pts_ms=times if name == 'vfr.mp4' else None,
                           codec_options=options)
        full, video = decode_all(path), VideoFile(path)
        assert len(video._seek_index.keys) == keys
        got, left = seeking_only(video, [2, 21, 37])
        assert left == [] and all(torch.equal(got[i], full[i]) for i in (2, 21, 37))


def test_a_file_whose_index_lies_is_decoded_from_the_start(tmp_path):
    """Every packet said to start a key frame (as a broken index says): a seek lands on frames that
    cannot start decoding, the seeking pass sees it and leaves the rest to one pass from the start,
    which gives full decoding's frames."""
    path = write_video(tmp_path / 'v.mp4', textured(30), codec_options={'g': '10', 'bf': '2'})
    full, video = decode_all(path), VideoFile(path)
    video.packets = video.packets._replace(keys=[True] * 30)
    assert len(video._seek_index.keys) == 30
    got, left = seeking_only(video, [4, 17, 25])
    assert left  # the seeking pass did not trust it to the end
    assert torch.equal(video.frames([4, 17, 25]), full[[4, 17, 25]])


def test_frame_count_without_a_header_comes_from_the_packets(tmp_path):
    path = write_video(tmp_path / 'v.webm', frames_of(11))
    import av
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # WebM headers carry no frame count
    assert VideoFile(path).num_frames == 11


def test_dataset_clip_is_the_same_when_frames_are_resized_while_decoding(tmp_path):
    path = write_video(tmp_path / 'v.mp4', textured(20, 48, 64))
    transform = eval_transform(CFG)
    assert transform.short_side == 37
    dataset = VideoDataset([(path, 0)], 4, transform, train=False, clips=2)
    indices = torch.tensor([[1, 6, 11, 16], [3, 8, 13, 18]])  # 2 test clips of 4 segments of 20 frames
    expected = transform(decode_all(path)[indices], 0)
    assert torch.equal(dataset.load(0), expected)


def test_phone_rotation_gives_upright_frames(tmp_path):
    frames = np.zeros((4, 32, 48, 3), np.uint8)
    frames[:, :8, :8] = 255  # a mark in the top-left corner of the stored (landscape) frame
    path = write_video(tmp_path / 'phone.mp4', frames, rotation=-90)  # what a phone held upright writes
    out = open_video(path).frames([0])[0]
    assert out.shape == (3, 48, 32)  # portrait
    # shown rotated 90 degrees clockwise: the mark is now in the top-right corner
    assert out[:, :8, -8:].float().mean() > 200 and out[:, :8, :8].float().mean() < 50


def test_variable_frame_rate_times_come_from_the_timestamps(tmp_path):
    times = [0, 100, 150, 400, 450, 1000]
    for suffix in ('.mp4', '.webm'):
        video = open_video(write_video(tmp_path / f'vfr{suffix}', frames_of(6), pts_ms=times))
        assert video.frame_times().tolist() == pytest.approx([t / 1000 for t in times])
        assert [round(v / 20) for v in video.frames([3, 5]).float().mean(dim=(1, 2, 3)).tolist()] == [3, 5]


@pytest.mark.parametrize('case', ['odd size', 'audio first', '10-bit', 'grayscale'])
def test_real_world_files_decode(case, tmp_path):
    frames = frames_of(9, 33, 47) if case == 'odd size' else frames_of(9)
    kwargs = {'odd size': dict(codec='libvpx-vp9', path='v.mkv'), 'audio first': dict(audio_first=True),
              '10-bit': dict(pix_fmt='yuv420p10le'),
              'grayscale': dict(codec='ffv1', pix_fmt='gray', path='v.mkv')}[case]
    path = write_video(tmp_path / kwargs.pop('path', 'v.mp4'), frames, **kwargs)
    if case == 'audio first':
        import av
        with av.open(str(path)) as container:
            assert [s.type for s in container.streams] == ['audio', 'video']
    out = open_video(path).frames([2, 8])
    assert out.dtype == torch.uint8 and out.shape == (2, 3) + frames.shape[1:3]
    assert [round(v / 20) for v in out.float().mean(dim=(1, 2, 3)).tolist()] == [2, 8]
    if case == 'grayscale':
        assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_truncated_files_give_what_they_hold_or_a_named_error(tmp_path):
    # without a frame count in the header (Matroska), the count is what the packets hold
    path = write_video(tmp_path / 'v.mkv', textured(12), codec='libvpx-vp9')
    data = path.read_bytes()
    (tmp_path / 'cut.mkv').write_bytes(data[:len(data) * 2 // 3])
    video = open_video(tmp_path / 'cut.mkv')
    full = decode_all(tmp_path / 'cut.mkv')
    assert 0 < video.num_frames == len(full) < 12
    assert torch.equal(video.frames([video.num_frames - 1]), full[-1:])
    # an MP4 index at the front promises frames the cut file no longer holds
    path = write_video(tmp_path / 'v.mp4', textured(12), options={'movflags': 'faststart'})
    data = path.read_bytes()
    (tmp_path / 'cut.mp4').write_bytes(data[:len(data) * 2 // 3])
    video = open_video(tmp_path / 'cut.mp4')
    assert video.num_frames == 12
    # (frame-threaded decoding may meet the damage as invalid data before the stream ends)
    with pytest.raises(VideoReadError, match=r'cut.mp4(: its container counts 12 frames but only \d+ decode| before '
                                             r'frame 11: InvalidDataError)'):
        video.frames([11])


def test_a_file_without_video_is_named(tmp_path):
    import av
    sound = tmp_path / 'sound.m4a'
    with av.open(str(sound), 'w') as container:
        stream = container.add_stream('aac', rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format='fltp', layout='mono')
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(VideoReadError, match='sound.m4a has no video stream'):
        open_video(sound)


def test_frame_folders_in_number_order_and_gaps_are_errors(tmp_path):
    frames = frames_of(11)
    folder = tmp_path / 'unpadded'
    folder.mkdir()
    from torchvision.io import write_jpeg
    for i, f in enumerate(frames, 1):  # img_1.jpg ... img_11.jpg: name order would put img_10 after img_1
        write_jpeg(torch.from_numpy(f).permute(2, 0, 1).contiguous(), str(folder / f'img_{i}.jpg'), quality=95)
    video = open_video(folder)
    means = video.frames(torch.arange(11)).float().mean(dim=(1, 2, 3))
    assert [round(v / 20) for v in means.tolist()] == list(range(11))
    gap = write_frame_folder(tmp_path / 'gap', frames)
    (gap / '00004.jpg').unlink()
    (gap / '00005.jpg').unlink()
    with pytest.raises(VideoReadError, match=r'gap: frames 4..5 are missing \(the numbering jumps from 00003.jpg to '
                                             r'00006.jpg\)'):
        open_video(gap)
    for name in ('00004.jpg', '00005.jpg', '00005.png'):
        (gap / name).write_bytes((gap / '00006.jpg').read_bytes())
    with pytest.raises(VideoReadError, match=r'frame number 5 appears twice'):
        open_video(gap)


def test_frame_folder_times_need_a_frame_rate(tmp_path):
    folder = write_frame_folder(tmp_path / 'f', frames_of(4))
    with pytest.raises(ValueError, match='give its frame rate'):
        open_video(folder).frame_times()
    assert open_video(folder, fps=4).frame_times().tolist() == [0, 0.25, 0.5, 0.75]


def test_frame_indices_out_of_range_are_errors(tmp_path):
    video = open_video(write_video(tmp_path / 'v.mp4', frames_of(5)))
    with pytest.raises(IndexError, match=r'frame indices must be in \[0, 5\)'):
        video.frames([5])


def test_files_declaring_huge_frames_or_lengths_are_refused_before_decoding(tmp_path, monkeypatch):
    """A small file can declare 8K+ frames or days of them; the limits are read from its headers
    (and packets) before any frame is decoded, and the error names the file and the limit."""
    from csst_zoo.data import VideoLimits
    from csst_zoo.data import readers
    huge = write_video(tmp_path / 'huge.mkv', np.zeros((1, 4400, 8200, 3), np.uint8), rate=1, codec='mjpeg',
                       pix_fmt='yuvj420p')  # 36.1 megapixels in a 0.6 MB file
    long = write_video(tmp_path / 'long.mp4', frames_of(2), pts_ms=[0, 30 * 3600 * 1000])  # 2 frames, 30 hours
    decoded = []
    monkeypatch.setattr(readers, '_image', lambda *a, **k: decoded.append(1))
    with pytest.raises(VideoReadError, match=r'huge.mkv has frames of 8200x4400 \(36.1 megapixels\), over the limit of '
                                             r'35.4 megapixels \(VideoLimits.max_pixels\)'):
        open_video(huge)
    with pytest.raises(VideoReadError, match=r'long.mp4 lasts 30.0 hours, over the limit of 24.0 hours'):
        open_video(long)
    with pytest.raises(VideoReadError, match=r'lasts 30.0 hours, over the limit of 10.0 minutes'):
        open_video(long, limits=VideoLimits(max_seconds=600))
    assert not decoded
    assert open_video(long, limits=VideoLimits(max_seconds=31 * 3600)).num_frames == 2
    # the packets' span counts where the headers say nothing of the length (a live Matroska stream)
    quiet = write_video(tmp_path / 'quiet.mkv', frames_of(3), pts_ms=[0, 1000, 7200 * 1000], options={'live': '1'})
    import av
    with av.open(str(quiet)) as container:
        assert readers._declared_seconds(container, container.streams.video[0]) is None
    with pytest.raises(VideoReadError, match=r'quiet.mkv lasts 2.0 hours, over the limit of 1.0 hours'):
        open_video(quiet, limits=VideoLimits(max_seconds=3600))
