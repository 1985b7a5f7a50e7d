"""Where a collection's videos are: a folder of them, a glob pattern or a CSV list, in a fixed
order (``predict`` and ``prepare`` take the same sources)."""
import csv
import glob
import os
from pathlib import Path
from typing import List

from .readers import FRAME_SUFFIXES, VIDEO_SUFFIXES

__all__ = ['csv_rows', 'is_collection', 'is_csv_list', 'list_videos', 'source_root']

_GLOB_CHARS = frozenset('*?[')


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in FRAME_SUFFIXES for p in path.iterdir())


def _is_video(path: Path) -> bool:
    return (path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()) or _is_frame_folder(path)


def is_csv_list(source) -> bool:
    """Whether ``source`` is a CSV list of videos (a ``.csv`` file with a ``path`` column)."""
    return Path(source).suffix.lower() == '.csv' and Path(source).is_file()


def is_collection(source) -> bool:
    """Whether ``source`` names many videos (a folder of them, a glob pattern, a .csv list) rather
    than one (a video file or a folder of frames)."""
    path = Path(source)
    if is_csv_list(source):
        return True
    if path.is_dir():
        return not _is_frame_folder(path)
    return not path.exists() and bool(_GLOB_CHARS & set(str(source)))


def _videos_under(folder: Path) -> List[Path]:
    found = []
    for directory, subdirectories, files in os.walk(folder):
        directory = Path(directory)
        if directory.name.startswith('.') and directory != folder:
            subdirectories.clear()  # hidden: a staging folder of an atomic write, a tool's own
            continue
        if any(Path(f).suffix.lower() in FRAME_SUFFIXES for f in files) and directory != folder:
            found.append(directory)  # a frame folder is one video: do not look inside it
            subdirectories.clear()
            continue
        subdirectories.sort()
        found += [directory / f for f in files if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    return sorted(found)


def csv_rows(csv_file) -> List[dict]:
    """The rows of a CSV list with a ``path`` column, that path made relative to the CSV's folder."""
    csv_file = Path(csv_file)
    with csv_file.open(newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f)
        if 'path' not in (reader.fieldnames or ()):
            raise ValueError(f"the CSV list {csv_file} needs a header with a 'path' column (paths relative to the "
                             f'CSV), found the columns {reader.fieldnames or []}')
        return [{**row, 'path': csv_file.parent / row['path']} for row in reader if row['path']]


def list_videos(source) -> List[Path]:
    """The videos named by ``source``, in a fixed order:

    - a video file or a frame folder: itself;
    - a folder of them: every video file and frame folder beneath it, searched recursively;
    - a glob pattern (``'clips/**/*.mp4'``, recursive): the video files and frame folders it matches;
    - a ``.csv`` file with a ``path`` column: its rows, relative to the CSV (other columns ignored).

    A collection that names no video is an error; a listed video that cannot be read is not (it
    becomes an error row when predicted)."""
    path = Path(source)
    if not is_collection(source):
        if not path.exists():
            raise FileNotFoundError(f'video {source} does not exist (give a video file, a frame folder, a folder of '
                                    "videos, a glob pattern such as 'clips/*.mp4' or a .csv list with a path column)")
        return [path]
    if is_csv_list(source):
        videos, what = [row['path'] for row in csv_rows(path)], f'the CSV list {source}'
    elif path.is_dir():
        videos, what = _videos_under(path), f'the folder {source}'
    else:
        videos = sorted(Path(p) for p in glob.glob(str(source), recursive=True) if _is_video(Path(p)))
        what = f'the pattern {source!r}'
    if not videos:
        raise ValueError(f'{what} names no videos ({"/".join(VIDEO_SUFFIXES)} files or folders of '
                         f'{"/".join(FRAME_SUFFIXES)} frames)')
    return videos


def source_root(source) -> Path:
    """The folder that a source's videos are named relative to: the folder itself, a CSV list's
    folder, the part of a glob pattern before its first wildcard, a single video's folder."""
    path = Path(source)
    if path.is_dir() and is_collection(source):
        return path
    if path.exists():
        return path.parent
    wildcard = next((i for i, part in enumerate(path.parts) if _GLOB_CHARS & set(part)), len(path.parts))
    return Path(*path.parts[:wildcard]) if wildcard else Path('.')
