#!/usr/bin/env python3
"""Prints the README's configuration reference from metrics/defaults/defaults.yaml: one table
per section, each key with its default and the comment above it. `--check README.md` exits 1
when the README's copy (between the BEGIN/END markers) differs. No dependencies beyond the
standard library, so it runs on a bare machine.

How the YAML is read:
- a section is a `# ---` rule, heading lines, and another rule; its first sentence is the
  heading, the rest a paragraph under it;
- a key's meaning is the comment right above it; comment lines indented past `#` (examples)
  are shown as code;
- a key with no comment of its own right after another key (no blank line, no comment between)
  shares that key's meaning and says "as above"; a key with no comment anywhere else says so;
- a block value (an indented mapping or list, a folded `>` or literal `|` string) is shown on
  one line as YAML flow (`{a: 1, b: 2}`, `[...]`); comments inside a mapping describe its keys
  and go to the meaning."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = ROOT / "metrics" / "defaults" / "defaults.yaml"
BEGIN = "<!-- BEGIN config reference (scripts/config_reference.py) -->"
END = "<!-- END config reference -->"
KEY = re.compile(r"^([a-z_][a-z0-9_]*):(.*)$")
RULE = re.compile(r"^# -{10,}$")


def cell(text: str) -> str:
    return text.replace("|", "\\|").strip(" \t")


def code(text: str) -> str:
    """Inline code in a table cell: pipes escaped, backticks doubled around backticks."""
    text = cell(text)
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def meaning(comment: list[str]) -> str:
    """Comment lines (without `#`) as a cell: prose joined, examples as code, paragraphs kept."""
    parts: list[str] = []
    prose: list[str] = []
    examples: list[str] = []

    def flush_prose():
        if prose:
            parts.append(cell(" ".join(prose)))
            prose.clear()

    def flush_examples():
        if examples:
            parts.append("<br>".join(code(e) for e in examples))
            examples.clear()

    for line in comment:
        if line.startswith("  "):
            flush_prose()
            # Indentation kept (non-breaking spaces survive in a code span).
            body = line[2:]
            examples.append("\u00a0" * (len(body) - len(body.lstrip(" "))) + body.strip())
        elif not line.strip():
            flush_prose()
            flush_examples()
        else:
            flush_examples()
            prose.append(line.strip())
    flush_prose()
    flush_examples()
    return "<br>".join(p for p in parts if p)


def scalar(text: str) -> str:
    return text.strip()


def flow(lines: list[str]) -> tuple[str, list[str]]:
    """An indented block (a mapping or a list) as YAML flow, and its keys' comments as
    `key: comment` notes."""
    notes: list[str] = []
    items = []
    for raw in lines:
        stripped = raw.strip()
        if not stripped:
            continue
        items.append((len(raw) - len(raw.lstrip(" ")), stripped))

    def parse(i: int, indent: int):
        """Parses the node starting at items[i] (at `indent`); returns (text, next index)."""
        if i < len(items) and items[i][1].startswith("- "):
            out = []
            while i < len(items) and items[i][0] == indent and items[i][1].startswith("- "):
                # A list entry: its text after "- " sits two columns further in.
                first = items[i][1][2:]
                items[i] = (indent + 2, first)
                if KEY.match(first) or first.startswith("#"):
                    text, i = parse(i, indent + 2)
                else:
                    text, i = scalar(first), i + 1
                out.append(text)
            return "[" + ", ".join(out) + "]", i
        out = []
        pending: list[str] = []
        while i < len(items) and items[i][0] == indent:
            line = items[i][1]
            if line.startswith("#"):
                pending.append(line.lstrip("#").strip())
                i += 1
                continue
            match = KEY.match(line)
            if not match:
                i += 1
                continue
            key, value = match.group(1), match.group(2).strip()
            if pending:
                notes.append(f"`{key}`: {' '.join(pending)}")
                pending = []
            i += 1
            if not value and i < len(items) and items[i][0] > indent:
                value, i = parse(i, items[i][0])
            out.append(f"{key}: {value}")
        return "{" + ", ".join(out) + "}", i

    if not items:
        return "", notes
    text, _ = parse(0, items[0][0])
    return text, notes


def reference(text: str) -> str:
    out: list[str] = []
    comment: list[str] = []
    lines = text.splitlines()
    i = 0
    # Whether the line before this key was a key (or its block): a true continuation.
    after_key = False
    first_in_table = True
    while i < len(lines):
        line = lines[i]
        if RULE.match(line):
            # A section: heading lines up to the closing rule.
            heading = []
            i += 1
            while i < len(lines) and not RULE.match(lines[i]):
                heading.append(lines[i].lstrip("#").strip())
                i += 1
            i += 1
            words = " ".join(h for h in heading if h)
            title, _, rest = words.partition(". ")
            out.append(f"\n**{title.rstrip('.')}**\n")
            if rest:
                out.append(f"{rest}\n")
            out.append("| key | default | meaning |")
            out.append("|---|---|---|")
            comment, after_key, first_in_table = [], False, True
            continue
        if line.startswith("#"):
            comment.append(line[1:][1:] if line.startswith("# ") else line[1:])
            after_key = False
            i += 1
            continue
        match = KEY.match(line)
        if match:
            key, value = match.group(1), match.group(2).strip()
            notes: list[str] = []
            i += 1
            if value in (">", "|", ">-", "|-"):
                block = []
                while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
                    block.append(lines[i].strip())
                    i += 1
                value = " ".join(b for b in block if b)
            elif not value:
                block = []
                while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
                    if not lines[i].strip() and (i + 1 >= len(lines) or not lines[i + 1].startswith(" ")):
                        break
                    block.append(lines[i])
                    i += 1
                value, notes = flow(block)
            if out:
                if comment:
                    text = meaning(comment)
                elif after_key and not first_in_table:
                    text = "as above"
                else:
                    text = ""
                if notes:
                    text = "<br>".join([t for t in [text] if t] + notes)
                out.append(f"| `{key}` | {code(value)} | {text} |")
                first_in_table = False
            comment = []
            after_key = True
            continue
        if not line.strip():
            comment = []
            after_key = False
        i += 1
    return "\n".join(out).strip() + "\n"


def main() -> int:
    generated = reference(DEFAULTS.read_text(encoding="utf-8"))
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        readme = Path(sys.argv[2]).read_text(encoding="utf-8")
        try:
            current = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip() + "\n"
        except IndexError:
            print(f"{sys.argv[2]}: no {BEGIN} ... {END} section", file=sys.stderr)
            return 1
        if current != generated:
            print(
                f"{sys.argv[2]}: the configuration reference is out of date with "
                f"{DEFAULTS.relative_to(ROOT)}; run `make docs` (scripts/config_reference.py)",
                file=sys.stderr,
            )
            return 1
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        path = Path(sys.argv[2])
        readme = path.read_text(encoding="utf-8")
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{BEGIN}\n{generated}{END}{tail}", encoding="utf-8")
        return 0
    if len(sys.argv) == 2 and sys.argv[1] != "-":
        sys.stdout.write(reference(Path(sys.argv[1]).read_text(encoding="utf-8")))
        return 0
    sys.stdout.write(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
