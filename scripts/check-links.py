#!/usr/bin/env python3
"""check-links.py [FILE.md ...]: checks every relative link in the project's
Markdown files. Each `[text](path#anchor)`, `[text](#anchor)` and
`[label]: path#anchor` must name a file or directory that exists, and its
`#anchor`, if any, a heading of that Markdown file as GitHub renders anchors
(lower case, punctuation dropped, spaces to hyphens, repeats numbered -1,
-2, ...). Links inside code blocks and code spans, and absolute URLs, are
skipped. With no arguments: README.md, ARCHITECTURE.md, SECURITY.md,
BENCHMARKS.md, docs/*.md and every README.md under crates/ and examples/.
Prints each broken link and exits non-zero if there is one."""

import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

INLINE = re.compile(r"\]\(([^()\s]+)\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+(\S+)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def default_files():
    names = ["README.md", "ARCHITECTURE.md", "SECURITY.md", "BENCHMARKS.md"]
    names += sorted(glob.glob("docs/*.md", root_dir=ROOT))
    for top in ("crates", "examples"):
        names += sorted(glob.glob(f"{top}/**/README.md", root_dir=ROOT, recursive=True))
    return [n for n in names if os.path.isfile(os.path.join(ROOT, n))]


def prose_lines(path):
    """(line number, text) of the lines outside fenced code blocks."""
    fenced = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                yield number, line


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


ANCHORS = {}


def anchors(path):
    if path not in ANCHORS:
        seen = {}
        found = set()
        for _, line in prose_lines(path):
            m = HEADING.match(line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        ANCHORS[path] = found
    return ANCHORS[path]


def links(path):
    for number, line in prose_lines(path):
        text = re.sub(r"`[^`]*`", "``", line)  # code spans hold no links
        for m in INLINE.finditer(text):
            yield number, m.group(1)
        m = REFERENCE.match(text)
        if m:
            yield number, m.group(1)


def check(name):
    path = os.path.join(ROOT, name)
    broken = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            broken.append(f"{name}:{number}: {target}: no such file {os.path.relpath(dest, ROOT)}")
            continue
        if anchor and not dest.endswith(".md"):
            broken.append(f"{name}:{number}: {target}: anchor on a file that is not Markdown")
        elif anchor and anchor not in anchors(dest):
            broken.append(f"{name}:{number}: {target}: no heading #{anchor} in {os.path.relpath(dest, ROOT)}")
    return broken


def main():
    files = sys.argv[1:] or default_files()
    broken = [b for name in files for b in check(name)]
    for b in broken:
        print(b)
    sys.stdout.flush()
    print(f"checked {len(files)} files: {len(broken)} broken links", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
