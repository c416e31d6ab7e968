"""The benchmark's results as an SVG chart: open it in any browser, no plotting library needed.

Left: requests per second at each number of connections (higher is better),
for your server, ThreadingHTTPServer and, when it was measured, waitress.
Right: the 99th-percentile latency, on a log scale (lower is better), since
one server's tail can be a hundred times the other's.
"""

import math
from html import escape

COLOURS = {"yours": "#3f51b5", "stdlib": "#9e9e9e", "waitress": "#ef6c00"}
NAMES = {"yours": "your server", "stdlib": "ThreadingHTTPServer", "waitress": "waitress"}
PANEL_WIDTH, PANEL_HEIGHT, MARGIN = 360, 220, 50


def render(results):
    names = {**NAMES, "yours": {"yours": "your server", "solution": "reference solution"}.get(
        results.get("server"), results.get("server", "your server"))}
    levels = results["levels"]
    servers = [name for name in COLOURS if name in levels[0]]  # waitress only when it was measured
    width = 2 * (PANEL_WIDTH + MARGIN) + MARGIN
    height = PANEL_HEIGHT + 2 * MARGIN + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12" viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">'
        f'{escape(results.get("request", ""))}: step {results.get("step")}, {escape(results.get("server", ""))} '
        f'vs ThreadingHTTPServer{" and waitress" if "waitress" in servers else ""} '
        f'(load: {escape(results.get("load", ""))})</text>',
    ]
    rates = [[level[name]["requests_per_second"] for name in servers] for level in levels]
    tails = [[level[name]["p99_ms"] for name in servers] for level in levels]
    parts += panel(MARGIN, "requests per second (higher is better)", servers, levels, rates, linear_scale(rates),
                   "{:,.0f}")
    parts += panel(2 * MARGIN + PANEL_WIDTH, "p99 latency, ms, log scale (lower is better)", servers, levels, tails,
                   log_scale(tails), "{:,.1f}")
    legend_y = height - 14
    for index, name in enumerate(servers):
        x = MARGIN + index * 180
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{COLOURS[name]}"/>')
        parts.append(f'<text x="{x + 18}" y="{legend_y}">{escape(names[name])}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def linear_scale(groups):
    top = max([value for group in groups for value in group if value] + [1.0]) * 1.1
    return lambda value: (value or 0) / top


def log_scale(groups):
    values = [value for group in groups for value in group if value]
    low = 10 ** math.floor(math.log10(min(values))) if values else 0.1
    high = 10 ** math.ceil(math.log10(max(values) * 1.01)) if values else 1.0
    span = math.log10(high) - math.log10(low) or 1.0
    return lambda value: 0.0 if not value else (math.log10(value) - math.log10(low)) / span


def panel(left, title, servers, levels, groups, scale, label_format):
    bottom = MARGIN + 20 + PANEL_HEIGHT
    parts = [
        f'<text x="{left}" y="{MARGIN + 8}" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{left + PANEL_WIDTH}" y2="{bottom}" stroke="#333"/>',
    ]
    slot = PANEL_WIDTH / max(1, len(levels))
    bar = slot * 0.7 / len(servers)
    for index, (level, group) in enumerate(zip(levels, groups)):
        x = left + index * slot + slot * 0.15
        for offset, (name, value) in enumerate(zip(servers, group)):
            bar_height = max(0.0, scale(value)) * PANEL_HEIGHT
            bar_x = x + offset * bar
            parts.append(
                f'<rect x="{bar_x:.1f}" y="{bottom - bar_height:.1f}" width="{bar - 2:.1f}" '
                f'height="{bar_height:.1f}" fill="{COLOURS[name]}"><title>{NAMES[name]}: '
                f'{"—" if value is None else label_format.format(value)}</title></rect>'
            )
            if value is not None:
                parts.append(
                    f'<text x="{bar_x + bar / 2 - 1:.1f}" y="{bottom - bar_height - 4:.1f}" font-size="9" '
                    f'text-anchor="middle">{label_format.format(value)}</text>'
                )
        parts.append(
            f'<text x="{left + index * slot + slot / 2:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f'{level["connections"]} conn{"s" if level["connections"] != 1 else ""}</text>'
        )
    return parts
