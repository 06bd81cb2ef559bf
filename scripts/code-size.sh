#!/usr/bin/env bash
# Where the code is big: the 5 largest .rs files under src/ by line count,
# and the 10 longest functions (from the line with `fn NAME` to its closing
# brace at the same indentation, both counted), with file:line.
#
# Assumes rustfmt-formatted code: a function body opens with `{` at the end
# of its signature (the `fn` line or a later one) and closes with a `}` line
# indented exactly like the `fn` line. Declarations without a body (trait
# methods ending in `;`) and one-line bodies are skipped.
#
# Usage: scripts/code-size.sh [DIR]     # default: src
set -euo pipefail
cd "$(dirname "$0")/.."

exec python3 - "${1:-src}" <<'PY'
import os
import re
import signal
import sys

# Quietly stop when piped into `head`.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)

# `fn` at the start of a declaration, after any qualifiers.
FN = re.compile(
    r'^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:default\s+)?(?:const\s+)?'
    r'(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+(\w+)'
)

paths = sorted(
    os.path.join(d, f)
    for d, _, files in os.walk(sys.argv[1])
    for f in files
    if f.endswith(".rs")
)

sizes = []
fns = []
for path in paths:
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    sizes.append((len(lines), path))
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        indent, name = m.group(1), m.group(2)
        # The signature ends at the first line ending in `{` (a body
        # follows), `;` (none) or `}` (a one-line body).
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith(("{", ";", "}")):
            j += 1
        if j == len(lines) or not lines[j].rstrip().endswith("{"):
            continue
        close = indent + "}"
        k = j + 1
        while k < len(lines) and lines[k].rstrip() != close:
            k += 1
        if k < len(lines):
            fns.append((k - i + 1, f"{path}:{i + 1}", name))

print("Largest files (lines):")
for n, path in sorted(sizes, key=lambda t: (-t[0], t[1]))[:5]:
    print(f"{n:7} {path}")
print()
print("Longest functions (lines):")
for n, where, name in sorted(fns, key=lambda t: (-t[0], t[1]))[:10]:
    print(f"{n:7} {where} {name}")
PY
