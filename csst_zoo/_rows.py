"""Files of rows written one at a time (predictions, the report of ``prepare``): each row is flushed
as it is written, so a run that stops keeps every row it finished, and a resumed run reads them back
and adds only what is missing. ``.csv`` (a header of columns) or ``.jsonl`` (one JSON object a line)."""
import csv
import io
import json
from pathlib import Path
from typing import List, Sequence

__all__ = ['RowFile', 'header_text', 'read_rows', 'row_text']


def _is_csv(path) -> bool:
    return Path(path).suffix.lower() == '.csv'


def _complete_text(path) -> str:
    """The file's text up to its last newline: a last row cut short by a crash is not a row."""
    text = Path(path).read_text(encoding='utf-8')
    return text[:text.rfind('\n') + 1]


def read_rows(path, columns: Sequence[str], what: str = 'a rows file', options: str = 'other options') -> List[dict]:
    """The complete rows of ``path`` as dicts (a CSV's cells as strings); a CSV whose header is not
    ``columns`` is an error naming the file and the ``options`` that change the columns."""
    return _parse_rows(_complete_text(path), path, columns, what, options)


def _parse_rows(text: str, path, columns: Sequence[str], what: str, options: str) -> List[dict]:
    lines = text.splitlines()
    if _is_csv(path):
        rows = list(csv.reader(lines))
        if not rows or rows[0] != list(columns):
            raise ValueError(f'{path} has the columns {rows[0] if rows else []}, not those of this run '
                             f'({list(columns)}): it was written with {options} or by another program')
        return [dict(zip(columns, r)) for r in rows[1:]]
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not {what} (JSON lines): {e}') from None


def row_text(path, columns: Sequence[str], row: dict) -> str:
    """``row`` as the line(s) it takes in a file like ``path``."""
    if not _is_csv(path):
        return json.dumps(row) + '\n'
    out = io.StringIO()
    csv.writer(out, lineterminator='\n').writerow(['' if row.get(c) is None else row[c] for c in columns])
    return out.getvalue()


def header_text(path, columns: Sequence[str]) -> str:
    return row_text(path, columns, dict(zip(columns, columns))) if _is_csv(path) else ''


class RowFile:
    """An output of rows, ``columns`` of each: created, or with ``resume`` continued (its complete
    rows in ``rows``, a row cut short by a crash dropped from the file). An existing file with rows
    is an error unless ``resume``: nothing is overwritten."""

    def __init__(self, path, columns: Sequence[str], resume: bool = False, what: str = 'a rows file',
                 options: str = 'other options'):
        self.path, self.columns, self.what = Path(path), list(columns), what
        if not self.path.absolute().parent.is_dir():
            raise FileNotFoundError(f'cannot write {path}: directory {self.path.absolute().parent} does not exist')
        has_rows = self.path.is_file() and self.path.stat().st_size > 0
        if has_rows and not resume:
            raise FileExistsError(f'{path} exists: pass --resume (resume=True) to add what it lacks, or choose a new '
                                  'output')
        self.rows: List[dict] = []
        if has_rows:
            text = _complete_text(self.path)
            self.rows = _parse_rows(text, self.path, self.columns, what, options)
            complete = len(text.encode('utf-8'))
            if complete < self.path.stat().st_size:
                with open(self.path, 'r+b') as f:
                    f.truncate(complete)
        self._file = open(self.path, 'a', newline='', encoding='utf-8')
        if not has_rows:
            self._write(header_text(self.path, self.columns))

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()  # a crash after this loses nothing written

    def append(self, row: dict) -> None:
        self._write(row_text(self.path, self.columns, row))

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
