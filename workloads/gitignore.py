"""Which files of a folder would git leave out: the ``.gitignore`` rules that code shipping
follows (the user's code goes to the workers, their data and build output do not).

The common cases of gitignore(5), implemented here so that no extra package is needed:
``*.ext`` and ``name`` at any depth, ``dir/`` (folders only), ``/rooted`` and ``a/b``
(relative to the ``.gitignore``'s folder), ``!negation`` (the last matching rule wins),
``**`` (``**/x``, ``x/**``, ``a/**/b``), ``?`` and ``[abc]``. The ``.gitignore`` files of
the parent folders up to the git root apply too, and those of sub-folders inside them. As
in git, a file inside an ignored folder cannot be re-included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Left out always, whatever the .gitignore files say: version control, caches, and
# virtual environments (a folder holding pyvenv.cfg).
ALWAYS_SKIPPED = (
    ".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".tox", ".nox", "node_modules", ".DS_Store",
)  # fmt: skip
SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Rule:
    """One line of a .gitignore: its pattern compiled, relative to the file's folder."""

    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def translate(pattern: str) -> str:
    """The regular expression (matched against a ``/``-separated path relative to the
    ``.gitignore``'s folder) of one gitignore pattern, without its ``!`` or trailing ``/``."""
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif (
            pattern.startswith("**", i)
            and i + 2 == len(pattern)
            and pattern[i - 1 : i] in ("/", "")
        ):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body[:1] == "!":
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    return body if anchored else f"(?:.*/)?{body}"


def parse(text: str) -> list[Rule]:
    """The rules of a .gitignore file's text, in order."""
    rules = []
    for line in text.splitlines():
        line = line.rstrip()
        if line.endswith("\\"):  # an escaped trailing space
            line += " "
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        regex = re.compile(translate(line), re.DOTALL)
        rules.append(Rule(regex, negated, directory_only))
    return rules


def _read_rules(folder: Path) -> list[Rule]:
    try:
        return parse((folder / ".gitignore").read_text(errors="replace"))
    except OSError:
        return []


def git_root(folder: Path) -> Path | None:
    """The nearest folder at or above ``folder`` that holds ``.git``, if any."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


class Ignorer:
    """The .gitignore rules in force under ``top``: those of its parents up to the git
    root, then those found while walking down."""

    def __init__(self, top: Path) -> None:
        self.top = top
        root = git_root(top)
        above = [] if root is None else [root / p for p in reversed(top.relative_to(root).parents)]
        # (folder the rules are relative to, its rules), outermost first
        self.levels = [(folder, _read_rules(folder)) for folder in above]

    def ignored(self, path: Path, is_dir: bool, levels: list[tuple[Path, list[Rule]]]) -> bool:
        name = path.name
        if name in ALWAYS_SKIPPED or (not is_dir and name.endswith(SKIPPED_SUFFIXES)):
            return True
        if is_dir and (path / "pyvenv.cfg").exists():
            return True
        verdict = False
        for folder, rules in levels:
            relative = path.relative_to(folder).as_posix()
            for rule in rules:
                if rule.directory_only and not is_dir:
                    continue
                if rule.regex.fullmatch(relative):
                    verdict = not rule.negated
        return verdict

    def files(self) -> Iterator[Path]:
        """Every file under ``top`` that is not ignored, in a stable order."""
        stack = [(self.top, [*self.levels, (self.top, _read_rules(self.top))])]
        while stack:
            folder, levels = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
            except OSError:
                continue
            for entry in entries:
                path = Path(entry.path)
                is_dir = entry.is_dir()
                if entry.is_symlink() and is_dir:
                    continue  # a linked folder may lead anywhere, even into a loop
                if self.ignored(path, is_dir, levels):
                    continue
                if is_dir:
                    stack.append((path, [*levels, (path, _read_rules(path))]))
                elif entry.is_file():
                    yield path
