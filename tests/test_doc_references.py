"""Source files and docs refer only to documents in the repository (no design notes or tracker issues
a reader of the repository cannot open), and every repository path they name exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"DESIGN(\.md| \d)|STYLE\.md|FACTS\.md|\b[Ii]ssue #?\d+|\.\./shared\b")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".cfg", ".toml", ".xml", ".html", ".js"}
# Areas other work is rewriting at the time of writing; drop an entry once its file is clean.
PENDING: set[str] = set()  # files still to clean (none)


def test_no_reference_to_documents_outside_the_repository():
    found = {}
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT)
        if p.suffix not in SUFFIXES or not p.is_file() or rel.parts[0] in {".git", ".venv", "build", "install", "log"}:
            continue
        if rel.as_posix() == "tests/test_doc_references.py":
            continue
        hits = OUTSIDE.findall(p.read_text(errors="replace"))
        if hits:
            found[rel.as_posix()] = hits
    unexpected = sorted(set(found) - PENDING)
    assert unexpected == [], f"say what the outside document said, or point at a file in the repository: {unexpected}"
    assert sorted(PENDING - set(found)) == [], "clean now: remove from PENDING"


# Repository paths in prose and code: a top-level folder of the repository, then a path that ends in a file
# name with an extension (``docs/ros.md``, ``launch/config/common.yaml``) or in ``/`` (a folder).
# Placeholders (``profiles/NAME.yaml``, ``configs/libero_*_loop.yaml``, ``<dir>``) are not paths.
REF_SUFFIXES = {".py", ".md", ".yaml", ".yml"}
SKIP_DIRS = {".git", ".venv", "build", "install", "log"}
# (file, reference): why a path that does not exist here may be named.
NOT_OURS = {
    ("docs/loop.md", "scripts/quest/stage_3_ript/libero_goal.sh"): "a file of RIPT-VLA's repository (the table's source)",
}


def _top_dirs() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in SKIP_DIRS)


def _path_pattern(tops: list[str]) -> re.Pattern:
    top = "|".join(map(re.escape, tops))
    return re.compile(rf"(?<![\w./~-])((?:{top})/[\w./-]*)(?![\w*<{{])")


def _is_placeholder(ref: str) -> bool:
    # NAME, CKPT, ... in capitals stand for a name the reader picks
    return any(re.fullmatch(r"[A-Z][A-Z_]+", part.split(".")[0]) for part in ref.split("/"))


def _missing_paths(text: str, pattern: re.Pattern) -> list[str]:
    out = []
    for m in pattern.finditer(text):
        ref = m.group(1).rstrip(".")
        last = ref.rsplit("/", 1)[-1]
        is_file = "." in last and not last.endswith(".")
        if not (is_file or m.group(1).endswith("/")) or _is_placeholder(ref):
            continue  # "sim/expert/operator" is a list of words, not a path
        if not (ROOT / ref).exists():
            out.append(ref)
    return out


def _section_refs(text: str) -> list[tuple[str, str]]:
    """``docs/X.md §N`` references: (file, section number)."""
    return re.findall(r"\b(docs/[\w-]+\.md) §(\d+)", text)


def _sources() -> list[Path]:
    """Every .py / .md / .yaml file of the repository but this one (its examples name missing paths on purpose)."""
    return [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in REF_SUFFIXES
            and p.relative_to(ROOT).parts[0] not in SKIP_DIRS and p != Path(__file__).resolve()]


def test_every_repository_path_named_exists():
    pattern = _path_pattern(_top_dirs())
    found = {}
    for p in _sources():
        rel = p.relative_to(ROOT).as_posix()
        missing = [r for r in _missing_paths(p.read_text(errors="replace"), pattern) if (rel, r) not in NOT_OURS]
        if missing:
            found[rel] = sorted(set(missing))
    assert found == {}, f"these files name repository paths that do not exist: {found}"


def test_every_docs_section_named_exists():
    bad = []
    for p in _sources():
        for doc, number in _section_refs(p.read_text(errors="replace")):
            target = ROOT / doc
            if not target.is_file() or not re.search(rf"^#+ {number}\.", target.read_text(), re.MULTILINE):
                bad.append(f"{p.relative_to(ROOT).as_posix()}: {doc} §{number}")
    assert bad == [], f"no such section: {bad}"


def test_the_path_check_catches_a_missing_file_and_skips_placeholders():
    pattern = _path_pattern(["docs", "launch", "sim"])
    text = ("see docs/ros.md and docs/no_such_page.md; launch/config/profiles/NAME.yaml; configs/x.yaml; "
            "launch/config/; launch/nothing_here/; sim/expert/operator; docs/*.md; ../shared/DESIGN.md")
    assert _missing_paths(text, pattern) == ["docs/no_such_page.md", "launch/nothing_here/"]
    assert OUTSIDE.search("../shared/FACTS.md") and OUTSIDE.search("DESIGN.md §5")
    assert _section_refs("(docs/loop.md §4) and docs/loop.md") == [("docs/loop.md", "4")]
