"""Every README section that the code sends a reader to (``see README, "Run store"``, in a
string, docstring or comment of core/, dashboard/ or pages/) is a heading of the README."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# README, "Name" / README, 'Name' / README: 'Name' / README, Name) (up to , : . ) or a quote)
CITATION = re.compile(r"README\s*[,:]\s*(?:([\"'])(.+?)\1|([^\"'():.,\n]+))")


def readme_headings(text: str) -> list[str]:
    """The Markdown headings of ``text``, outside fenced code blocks, without their #s."""
    headings, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            headings.append(line.lstrip("#").strip())
    return headings


def citations(source: str) -> set[str]:
    """The README sections cited in a Python source's string constants (adjacent literals
    joined, as Python joins them) and comments."""
    texts = [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    texts += [
        token.string
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    found = set()
    for text in texts:
        for match in CITATION.finditer(" ".join(text.split())):
            found.add((match.group(2) or match.group(3)).strip())
    return found


def missing_sections(cited: set[str], headings: list[str]) -> set[str]:
    """Citations that no heading contains (case-insensitive)."""
    lowered = [heading.lower() for heading in headings]
    return {name for name in cited if not any(name.lower() in h for h in lowered)}


def test_the_checker_finds_citations_and_missing_sections():
    source = (
        'X = "see README, " "\'What the theorem needs\') and (README, On a cluster)"\n'
        '"""Layout (see README, "Run store"):"""\n# README: Nowhere at all.\n'
    )
    found = citations(source)
    assert found == {"What the theorem needs", "On a cluster", "Run store", "Nowhere at all"}
    headings = readme_headings("# A\n```bash\n# On a cluster\n```\n### What the theorem needs\n")
    assert headings == ["A", "What the theorem needs"]
    assert missing_sections(found, headings) == {"On a cluster", "Run store", "Nowhere at all"}


def test_every_readme_section_cited_in_the_code_exists():
    headings = readme_headings((ROOT / "README.md").read_text(encoding="utf-8"))
    cited: dict[str, list[str]] = {}
    for folder in ("core", "dashboard", "pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in citations(path.read_text(encoding="utf-8")):
                cited.setdefault(name, []).append(str(path.relative_to(ROOT)))
    # the sections the code cites today, so that a broken pattern cannot pass by finding none
    assert {"What the theorem needs", "Run store", "Your own data", "On a cluster"} <= set(cited)
    missing = missing_sections(set(cited), headings)
    assert not missing, {name: cited[name] for name in missing}
