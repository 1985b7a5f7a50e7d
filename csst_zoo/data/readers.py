"""Decoding: JPEG frame folders (Something-Something V1, Jester) and video files through PyAV."""
from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image, read_file

__all__ = ['VideoReadError', 'FrameFolder', 'VideoFile', 'open_video', 'FRAME_SUFFIXES', 'VIDEO_SUFFIXES']

FRAME_SUFFIXES = ('.jpg', '.jpeg', '.png')
VIDEO_SUFFIXES = ('.webm', '.mp4', '.avi', '.mkv', '.mov')


class VideoReadError(RuntimeError):
    """A video that cannot be used: unreadable, empty or too short. The message names the file."""


class FrameFolder:
    """A folder of frame images, in file-name order (``00001.jpg``, ``00002.jpg``, ...)."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        except OSError as e:
            raise VideoReadError(f'cannot list frame folder {self.path}: {e}') from None
        if not self.files:
            raise VideoReadError(f'frame folder {self.path} holds no {"/".join(FRAME_SUFFIXES)} frames')

    @property
    def num_frames(self) -> int:
        return len(self.files)

    def frames(self, indices) -> torch.Tensor:
        """uint8 frames ``(len(indices), 3, H, W)``."""
        out = []
        for i in indices.tolist():
            try:
                out.append(decode_image(read_file(str(self.files[i])), mode=ImageReadMode.RGB))
            except RuntimeError as e:
                raise VideoReadError(f'cannot decode frame {self.files[i]}: {e}') from None
        return torch.stack(out)


class VideoFile:
    """A video file decoded with PyAV. Something-Something clips are a few seconds long, so all
    frames are decoded once (their container headers often give no frame count)."""

    def __init__(self, path):
        import av
        self.path = Path(path)
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                frames = [torch.from_numpy(f.to_ndarray(format='rgb24')).permute(2, 0, 1)
                          for f in container.decode(stream)]
        except (av.FFmpegError, IndexError, OSError) as e:
            raise VideoReadError(f'cannot decode video {self.path}: {type(e).__name__}: {e}') from None
        if not frames:
            raise VideoReadError(f'video {self.path} has no decodable frames')
        self._frames = torch.stack(frames)

    @property
    def num_frames(self) -> int:
        return len(self._frames)

    def frames(self, indices) -> torch.Tensor:
        return self._frames[indices]


def open_video(path):
    """A FrameFolder for a directory, a VideoFile otherwise."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path)
    if not path.is_file():
        raise VideoReadError(f'video {path} does not exist')
    return VideoFile(path)
