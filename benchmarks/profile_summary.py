"""Top functions of a py-spy speedscope profile, by inclusive and self share
of samples: the text committed next to the profile, so a reader sees where
the worker's time goes without a viewer.

    python -m benchmarks.profile_summary benchmarks/results/quick-worker.speedscope.json [TOP]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def summarise(path: Path, top: int = 30) -> str:
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    inclusive: Counter[int] = Counter()
    own: Counter[int] = Counter()
    total = 0
    for profile in doc["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            for frame in set(stack):
                inclusive[frame] += weight
            if stack:
                own[stack[-1]] += weight

    def name(i: int) -> str:
        f = frames[i]
        where = f.get("file", "").split("site-packages/")[-1].replace(str(Path.cwd()) + "/", "")
        return f"{f['name']} ({where}:{f.get('line', '?')})"

    lines = [f"{total:.1f} s sampled"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"\ntop {top} by {title} share")
        lines += [f"{100 * n / total:6.1f}%  {name(i)}" for i, n in counter.most_common(top)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30), end="")
