#!/usr/bin/env python3
"""Prints the README's configuration reference from metrics/defaults/defaults.yaml: one table
per section, each key with its default and the comment above it. `--check README.md` exits 1
when the README's copy (between the BEGIN/END markers) differs. No dependencies beyond the
standard library, so it runs on a bare machine."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = ROOT / "metrics" / "defaults" / "defaults.yaml"
BEGIN = "<!-- BEGIN config reference (scripts/config_reference.py) -->"
END = "<!-- END config reference -->"
KEY = re.compile(r"^([a-z_][a-z0-9_]*):(.*)$")


def cell(text: str) -> str:
    return text.replace("|", "\\|").strip()


def reference(text: str) -> str:
    out = []
    comment: list[str] = []
    lines = text.splitlines()
    i = 0
    in_header = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("# ---"):
            in_header = not in_header
            comment = []
            i += 1
            continue
        if in_header and line.startswith("# "):
            out.append(f"\n**{line[2:].strip()}**\n")
            out.append("| key | default | meaning |")
            out.append("|---|---|---|")
            i += 1
            continue
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            i += 1
            continue
        match = KEY.match(line)
        if match:
            key, value = match.group(1), match.group(2).strip()
            if not value:
                # A block value: the indented lines below it, shown on one line.
                block = []
                i += 1
                while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
                    if lines[i].strip():
                        block.append(lines[i].strip())
                    i += 1
                value = "; ".join(block)
            else:
                i += 1
            if out:
                meaning = cell(" ".join(comment)) or "as above"
                out.append(f"| `{key}` | `{cell(value)}` | {meaning} |")
            # Consecutive keys share the comment above the first.
            comment = []
            continue
        if not line.strip():
            comment = []
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
    sys.stdout.write(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
