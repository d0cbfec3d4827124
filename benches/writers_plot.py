#!/usr/bin/env python3
"""Throughput against writer threads, as an SVG, from the interleaved writers bench.

    MUTEGATE_INTERLEAVED=3 cargo bench --bench writers > after.txt
    python3 benches/writers_plot.py after.txt [before.txt] > benches/writers.svg

Reads the bench's table (`| <contender> x<threads> | <median ops/s> | <min> | <max> |`)
and draws one line per contender (log scale), with the min-max spread as a bar. A second
file, if given, is drawn dashed and labelled "before".
"""

import math
import re
import sys
from collections import defaultdict

ROW = re.compile(r"^\| (\w+) x(\d+) \| (\d+) \| (\d+) \| (\d+) \|$")
COLORS = {
    "in_memory": "#4477aa",
    "every_10ms": "#228833",
    "every_write": "#cc3311",
    "redis_aof_always": "#777777",
}


def read(path):
    series = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line.strip())
            if m:
                name, threads, med, lo, hi = m.groups()
                series[name].append((int(threads), int(med), int(lo), int(hi)))
    return series


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runs = [("", read(sys.argv[1]))]
    if len(sys.argv) > 2:
        before = read(sys.argv[2])
        before.pop("redis_aof_always", None)  # the same server, measured again
        runs.append((" (before)", before))
    if not runs[0][1]:
        sys.exit(f"no bench rows in {sys.argv[1]}")
    width, height, left, right, top, bottom = 720, 440, 80, 210, 30, 50
    all_values = [v for _, s in runs for pts in s.values() for p in pts for v in p[1:]]
    lo_v = 10 ** math.floor(math.log10(max(1, min(all_values))))
    hi_v = 10 ** math.ceil(math.log10(max(all_values)))
    threads = sorted({p[0] for _, s in runs for pts in s.values() for p in pts})
    xs = {t: left + i * (width - left - right) / max(1, len(threads) - 1) for i, t in enumerate(threads)}

    def y(v):
        frac = (math.log10(max(v, lo_v)) - math.log10(lo_v)) / (math.log10(hi_v) - math.log10(lo_v))
        return height - bottom - frac * (height - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">mutegate writers: mutations per second against writer threads (log scale)</text>',
    ]
    decade = lo_v
    while decade <= hi_v:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(decade):.1f}" y2="{y(decade):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y(decade) + 4:.1f}" text-anchor="end">{decade:,}</text>')
        decade *= 10
    for t in threads:
        out.append(f'<text x="{xs[t]:.1f}" y="{height - bottom + 18}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.1f}" y="{height - 12}" text-anchor="middle">writer threads</text>')
    legend_y = top + 10
    for suffix, series in runs:
        dash = ' stroke-dasharray="6 4"' if suffix else ""
        for name, pts in sorted(series.items()):
            color = COLORS.get(name, "#000")
            pts = sorted(pts)
            path = " ".join(f"{'M' if i == 0 else 'L'}{xs[t]:.1f},{y(m):.1f}" for i, (t, m, _, _) in enumerate(pts))
            out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            for t, m, lo, hi in pts:
                out.append(f'<line x1="{xs[t]:.1f}" x2="{xs[t]:.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" stroke="{color}"/>')
                out.append(f'<circle cx="{xs[t]:.1f}" cy="{y(m):.1f}" r="3" fill="{color}"/>')
            out.append(f'<line x1="{width - right + 15}" x2="{width - right + 40}" y1="{legend_y}" y2="{legend_y}" stroke="{color}" stroke-width="2"{dash}/>')
            out.append(f'<text x="{width - right + 46}" y="{legend_y + 4}">{name}{suffix}</text>')
            legend_y += 18
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
