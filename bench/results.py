"""Shared by the bench scripts: each owns one marked section of bench/RESULTS.md."""
from pathlib import Path

from mlops_nb.core import atomic_write

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(text: str, begin: str, end: str, path: Path = RESULTS) -> None:
    "Replace the section between `begin` and `end` (or append it), keeping everything else; re-read right before writing."
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + text.rstrip("\n") + rest.split(end, 1)[1]
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + text
    with atomic_write(path) as tmp: tmp.write_text(new)
