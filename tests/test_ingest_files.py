"""Line-oriented file reading (``hf_pinecone.ingestion.files``) and the checks ``ingest`` runs on a file first.

Pure file parsing: no server is involved (the CLI end of the same cases is in ``tests/test_cli_rough_edges.py``).
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest

from hf_pinecone.errors import ConfigurationError
from hf_pinecone.ingestion.files import BadRow, count_lines, read_lines_file
from hf_pinecone.ingestion.sources import check_file, open_source


def test_compressed_tsv_with_a_bom_and_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.tsv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\xef\xbb\xbftext\tscore\r\nfirst\t0.5\r\n\xc3\x28\t1\r\nthird\t\r\n")
    rows = list(read_lines_file(path, "csv", delimiter="\t"))
    assert rows[0] == {"text": "first", "score": 0.5}
    assert isinstance(rows[1], BadRow) and rows[1].reason.startswith("line 3 of rows.tsv.gz is not valid UTF-8")
    assert rows[2] == {"text": "third", "score": None}
    assert count_lines(path) is None  # compressed: not counted twice


def test_text_lines_keep_their_content_and_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.txt.bz2"
    path.write_bytes(bz2.compress(b"  indented line \n\n\tsecond\nno newline at the end"))
    rows = list(read_lines_file(path, "text"))
    assert rows == [{"text": "  indented line "}, {"text": "\tsecond"}, {"text": "no newline at the end"}]
    plain = tmp_path / "b.txt"
    plain.write_text("one\ntwo\nthree")
    assert count_lines(plain) == 3 and count_lines(plain, stop_after=2) == 2


def test_a_numeric_looking_text_column_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("text,id\n123,7\nTrue,8\n")
    rows, total, _ = open_source(path, None, None)
    assert list(rows) == [{"text": "123", "id": 7}, {"text": "True", "id": 8}]
    assert total == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.csv", b"", "is empty: nothing to ingest"),
        ("e.jsonl", b"\n\n", "is empty: nothing to ingest"),
        ("h.csv", b"text\n", "has a header but no rows"),
        ("bad-header.csv", b"t\xe9xt\nx\n", "the header line of bad-header.csv is not valid UTF-8"),
        ("folder", None, "is a folder"),
    ],
)
def test_bad_files_are_configuration_errors(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=message):
        check_file(path)


def test_json_lines_in_a_json_file_are_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{"text": "a"}\nnot json\n{"text": "b"}\n')
    rows, _, _ = open_source(path, None, None)
    read = list(rows)
    assert read[0] == {"text": "a"} and read[2] == {"text": "b"}
    assert isinstance(read[1], BadRow) and "line 2 of d.json is not valid JSON" in read[1].reason
