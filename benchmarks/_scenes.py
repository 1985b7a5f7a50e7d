"""The generated camera-like scene and its files (frame folders, WebM, MP4), shared by the data-loading
benchmarks and their tests, and a tiny model trained to tell two scenes apart (the demo's test and
screenshot)."""
import math
from pathlib import Path
from typing import Optional

import torch

from csst_zoo.data.writers import write_video


def _texture(g: torch.Generator, height: int, width: int, cells: int) -> torch.Tensor:
    """(1, 3, H, W) smooth random colours, ``cells`` features from top to bottom whatever the size,
    toned down towards grey as camera footage is (codecs spend most bits on brightness)."""
    cell = max(1, height // cells)
    coarse = torch.rand(1, 3, height // cell + 2, width // cell + 2, generator=g)
    colour = torch.nn.functional.interpolate(coarse, size=(height, width), mode='bicubic', align_corners=False)
    return 255 * (0.6 * colour.mean(1, keepdim=True) + 0.4 * colour)


def scene(height: int, num_frames: int, seed: int = 0, fps: float = 30):
    """Frames (n, H, W, 3) uint8 at ``fps`` frames/s that codecs find about as hard as camera footage.

    A camera wanders, zooms and rolls slightly over a textured background (sub-pixel motion); a
    layer of textured objects moves on its own path across it (occlusion, parallax); the lower third
    shows a texture that changes from frame to frame (water, leaves); the light drifts. A static
    texture panned by whole pixels would be predicted exactly from the frame before, so its non-key
    frames would cost almost nothing to store and decode, and long key-frame intervals would look
    cheap."""
    fn = torch.nn.functional
    width = height * 16 // 9 // 2 * 2
    g = torch.Generator().manual_seed(seed)
    # the camera sees half of each side of the canvas, so at rest it maps a canvas pixel to a frame pixel
    canvas = (2 * height, 2 * width)
    background = 0.7 * _texture(g, *canvas, 90) + 0.3 * _texture(g, *canvas, 360)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, canvas[0]), torch.linspace(-1, 1, canvas[1]), indexing='ij')
    alpha = torch.zeros(canvas)
    for cy, cx, r in torch.rand(8, 3, generator=g).tolist():  # eight discs with soft edges
        cy, cx, radius = 2 * cy - 1, 2 * cx - 1, 0.08 + 0.25 * r
        inside = 1 - ((ys - cy) ** 2 + ((xs - cx) * canvas[1] / canvas[0]) ** 2) / radius ** 2
        alpha = torch.maximum(alpha, (8 * inside).clamp(0, 1))
    objects = torch.cat([_texture(g, *canvas, 180), alpha[None, None]], 1)
    water = [_texture(g, height, width, 120) for _ in range(2)]
    band = slice(height * 2 // 3, height)
    phase = (2 * math.pi * torch.rand(6, generator=g)).tolist()
    for i in range(num_frames):
        t = i / fps  # the scene moves in seconds, so a lower frame rate sees more motion per frame
        scale = 0.5 * (1 + 0.03 * math.sin(0.7 * t + phase[0]))
        roll = 0.01 * math.sin(0.5 * t + phase[1])
        theta = torch.tensor([[[scale * math.cos(roll), -scale * math.sin(roll), 0.3 * math.sin(0.23 * t + phase[2])],
                               [scale * math.sin(roll), scale * math.cos(roll), 0.2 * math.sin(0.31 * t + phase[3])]]])
        grid = fn.affine_grid(theta, [1, 3, height, width], align_corners=False)
        frame = fn.grid_sample(background, grid, align_corners=False)
        shift = torch.tensor([0.6 * math.sin(0.9 * t + phase[4]), 0.3 * math.cos(0.6 * t + phase[5])])
        layer = fn.grid_sample(objects, grid + shift, align_corners=False)
        frame = torch.lerp(frame, layer[:, :3], layer[:, 3:])
        mix = 0.5 + 0.5 * math.sin(2 * t)
        frame[:, :, band] = 0.5 * frame[:, :, band] + 0.5 * torch.lerp(water[1], water[0], mix)[:, :, band]
        frame = frame * (1 + 0.08 * math.sin(0.4 * t))
        yield frame[0].clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def write_scene(path: Path, height: int, num_frames: int, fps: int, seed: int = 0,
                key_interval: Optional[float] = None, encoder_threads: int = 0) -> Path:
    """The scene as a frame folder (``00001.jpg``, quality 90), WebM (VP8) or MP4 (H.264), the
    files with a key frame every ``key_interval`` seconds (default: the encoder's own interval),
    encoded on ``encoder_threads`` threads (0: the encoder's choice; give 1 where a process per
    core writes videos, as the encoders' idle threads would take the cores from the others)."""
    if path.exists():
        return path
    stage = path.with_name('.tmp-' + path.name)
    if path.suffix == '':
        from torchvision.io import encode_jpeg
        stage.mkdir(parents=True)
        for i, frame in enumerate(scene(height, num_frames, seed, fps), 1):
            (stage / f'{i:05d}.jpg').write_bytes(encode_jpeg(torch.from_numpy(frame).permute(2, 0, 1),
                                                             quality=90).numpy().tobytes())
        stage.rename(path)
        return path
    width = height * 16 // 9 // 2 * 2
    webm = path.suffix == '.webm'
    return write_video(
        path, scene(height, num_frames, seed, fps), rate=fps, threads=encoder_threads,
        key_interval=round(key_interval * fps) if key_interval else None,
        codec_options={'deadline': 'realtime', 'cpu-used': '8'} if webm else {'preset': 'veryfast'},
        # libvpx's default, 256 kbit/s, is far below what real WebM files use
        bit_rate=int(0.1 * width * height * fps) if webm else None)


def key_frame_interval(path: Path, fps: int) -> Optional[float]:
    """Seconds per key frame of the video file at ``path``, from its packets (None for a frame folder)."""
    if path.is_dir():
        return None
    from csst_zoo.data import VideoFile
    video = VideoFile(path)
    return video.num_frames / sum(video.packets.keys) / fps


def scene_classifier(scenes: dict, frames: int = 4, size: int = 32):
    """A C2D-ResNet18 trained for a few seconds to tell scenes apart: ``scenes`` maps each class
    name to uint8 frames (n, H, W, 3) of it, n a multiple of ``frames`` (clips of ``frames`` at
    ``size`` px). Asserts that it tells every training clip's class."""
    import csst_zoo
    from csst_zoo.data import eval_transform
    torch.manual_seed(0)
    cfg = dict(input_size=(3, frames, size, size), label_names=list(scenes))
    model = csst_zoo.create_model('c2d_resnet18', num_classes=len(scenes), num_frames=frames,
                                  pretrained_cfg_overlay=cfg)
    transform = eval_transform(model.pretrained_cfg)
    clips, labels = [], []
    for label, video in enumerate(scenes.values()):
        video = torch.from_numpy(video).permute(0, 3, 1, 2)
        clips.append(transform(video.reshape(-1, frames, *video.shape[1:]), 0))
        labels += [label] * len(clips[-1])
    clips, labels = torch.cat(clips), torch.tensor(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(15):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(clips), labels).backward()
        optimizer.step()
    # recalibrate batch norm on the final weights (15 steps leave the running statistics far behind)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        model(clips)
    model.eval()
    with torch.no_grad():
        assert (model(clips).argmax(1) == labels).all()
    model.pretrained_cfg['video_trained'] = True  # trained here, on clips: the page need not warn
    return model
