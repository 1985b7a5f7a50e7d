import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def frames_of(n: int, height: int = 32, width: int = 48, label: int = 0):
    """uint8 frames (n, H, W, 3) whose frame i has the grey value 20 i + label (its index is readable back)."""
    import numpy as np
    return np.stack([np.full((height, width, 3), min(255, 20 * i + label), np.uint8) for i in range(n)])


def write_frame_folder(folder, frames):
    from torchvision.io import write_jpeg
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames, 1):
        write_jpeg(torch.from_numpy(f).permute(2, 0, 1).contiguous(), str(folder / f'{i:05d}.jpg'), quality=95)
    return folder


def write_video(path, frames, rate: int = 8):
    """Encode frames with PyAV: VP8 for .webm, H.264 for .mp4."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libvpx' if path.suffix == '.webm' else 'libx264', rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
