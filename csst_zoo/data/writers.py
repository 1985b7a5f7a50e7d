"""Writing videos with PyAV: one writer for the demo's examples, the benchmarks' collections and the tests."""
import itertools
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence

import numpy as np

from .._io import staged_files

__all__ = ['write_video']


def write_video(path, frames: Iterable[np.ndarray], rate: int = 8, codec: Optional[str] = None,
                pix_fmt: str = 'yuv420p', bit_rate: Optional[int] = None, key_interval: Optional[int] = None,
                threads: int = 0, codec_options: Optional[Dict[str, str]] = None, rotation: Optional[float] = None,
                pts_ms: Optional[Sequence[int]] = None, audio_first: bool = False,
                options: Optional[Dict[str, str]] = None) -> Path:
    """Encode ``frames`` (uint8 RGB arrays ``(H, W, 3)``, or one ``(n, H, W, 3)`` array) at ``rate``
    frames per second to ``path``, atomically (the file appears whole or not at all).

    ``codec``: by default VP8 for ``.webm``, H.264 otherwise; ``bit_rate`` in bit/s, ``key_interval``
    in frames (default: the encoder's), ``threads`` the encoder's (0: its choice), ``codec_options``
    the encoder's own (``preset``, ``bf``, ...). For files as cameras and phones write them:
    ``rotation``, the display matrix's counter-clockwise degrees (a phone filming upright writes
    -90); ``pts_ms``, each frame's time in milliseconds (a variable frame rate); ``audio_first``, a
    silent AAC stream before the video stream; ``options``, the muxer's.
    """
    import av
    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_files(path) as stage, av.open(str(stage / path.name), 'w', options=options) as container:
        audio = container.add_stream('aac', rate=16000) if audio_first else None
        stream = container.add_stream(codec or ('libvpx' if path.suffix == '.webm' else 'libx264'), rate=rate)
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = pix_fmt
        stream.options = dict(codec_options or {})
        stream.codec_context.thread_count = threads
        if bit_rate:
            stream.bit_rate = bit_rate
        if key_interval:
            stream.codec_context.gop_size = key_interval
        if pts_ms is not None:
            stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if audio is not None:
            _silence(container, audio)
        for i, f in enumerate(itertools.chain([first], frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format='rgb24')
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _silence(container, audio) -> None:
    """Four AAC frames of silence (the audio stream of a file whose video is not its first stream)."""
    import av
    for k in range(4):
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format='fltp', layout='mono')
        sound.sample_rate, sound.pts = 16000, k * 1024
        container.mux(audio.encode(sound))
    container.mux(audio.encode())
