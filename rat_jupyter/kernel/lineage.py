"""The pipeline DAG as a self-contained SVG picture (``%rat lineage``).

Built by hand rather than with graphviz so it needs nothing installed and renders anywhere an
``image/svg+xml`` output does (JupyterLab, nbviewer, GitHub). Layout is layered: a pipeline's column is its
longest distance from a source, rows inside a column are ordered to keep edges short, and each box is
coloured by the status of the pipeline's latest run.
"""

from __future__ import annotations

from html import escape
from typing import Any

LAYER_ORDER = {"bronze": 0, "silver": 1, "gold": 2}
STATUS_STYLE: dict[str | None, tuple[str, str]] = {  # fill, stroke
    "success": ("#dafbe1", "#1a7f37"),
    "failed": ("#ffebe9", "#cf222e"),
    "running": ("#ddf4ff", "#0969da"),
    "pending": ("#fff8c5", "#9a6700"),
    "cancelled": ("#eaeef2", "#6e7781"),
    "skipped": ("#eaeef2", "#6e7781"),
    None: ("#ffffff", "#8c959f"),
}
LANDING_STYLE = ("#fbefff", "#8250df")
NODE_H = 44
GAP_X = 70
GAP_Y = 18
PAD = 16
CHAR_W = 7.2


def _key(name: str) -> tuple[int, str]:
    if name.startswith("landing:"):
        return (-1, name)
    parts = name.split(".")
    layer = parts[1] if len(parts) == 3 else ""
    return (LAYER_ORDER.get(layer, 3), name)


def depths(nodes: list[str], upstream: dict[str, set[str]]) -> dict[str, int]:
    """Longest distance from a source, for each node. Edges closing a cycle are ignored (no recursion)."""
    depth: dict[str, int] = {}
    on_stack: set[str] = set()
    for root in sorted(nodes, key=_key):
        if root in depth:
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(upstream.get(root, ()), key=_key))]
        on_stack.add(root)
        while stack:
            node, todo = stack[-1]
            while todo and (todo[0] in depth or todo[0] in on_stack):
                todo.pop(0)
            if todo:
                nxt = todo.pop(0)
                on_stack.add(nxt)
                stack.append((nxt, sorted(upstream.get(nxt, ()), key=_key)))
                continue
            ups = [depth[u] for u in upstream.get(node, ()) if u in depth]
            depth[node] = 1 + max(ups) if ups else 0
            on_stack.discard(node)
            stack.pop()
    return depth


def _centre(node: str, upstream: dict[str, set[str]], row: dict[str, int], default: float) -> float:
    """Mean row of a node's upstream nodes (barycentre ordering keeps edges short and uncrossed)."""
    ups = [row[u] for u in upstream[node] if u in row]
    return sum(ups) / len(ups) if ups else default


def layout(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """``(column, row)`` of each node: columns by depth, rows ordered by the mean row of upstream nodes."""
    upstream: dict[str, set[str]] = {n: set() for n in nodes}
    for up, down in edges:
        upstream.setdefault(down, set()).add(up)
        upstream.setdefault(up, set())
    depth = depths(list(upstream), upstream)
    columns: dict[int, list[str]] = {}
    for node in sorted(upstream, key=_key):
        columns.setdefault(depth[node], []).append(node)
    row: dict[str, int] = {}
    for col in sorted(columns):
        members = columns[col]
        if col > 0:
            members.sort(key=lambda n, last=float(len(members)): (_centre(n, upstream, row, last), _key(n)))
        for i, n in enumerate(members):
            row[n] = i
    return {n: (depth[n], row[n]) for n in upstream}


def _node(node_id: str) -> str:
    """``pipeline:ns.layer.name`` and ``table:ns.layer.name`` are one box; ``landing:ns.zone`` is its own."""
    kind, _, rest = node_id.partition(":")
    return f"landing:{rest}" if kind == "landing" else rest


def lineage_svg(lineage: dict[str, Any], *, title: str = "", namespace: str | None = None) -> str:
    """Render :meth:`Workspace.lineage` output (pipeline nodes, ``ref`` and landing edges) as an SVG document.

    Node ids, not display names, identify pipelines (``pipeline:ns.layer.name``): the ids are the stable part
    of the lineage format.
    """
    status: dict[str, str | None] = {}
    for node in lineage.get("nodes", []):
        if node.get("type") == "pipeline":
            run = node.get("latest_run") or {}
            status[_node(node["id"])] = run.get("status")
    edges: list[tuple[str, str]] = []
    for edge in lineage.get("edges", []):
        if edge.get("type") in ("ref", "landing_input"):
            edges.append((_node(edge["source"]), _node(edge["target"])))
    nodes = sorted(set(status) | {n for e in edges for n in e}, key=_key)
    if not nodes:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="240" height="40">'
                '<text x="10" y="24" font-family="sans-serif" font-size="13" fill="#57606a">no pipelines</text></svg>')
    home = namespace or max({n.removeprefix("landing:").split(".")[0] for n in nodes},
                            key=lambda ns: sum(n.removeprefix("landing:").startswith(ns + ".") for n in nodes))

    def label_of(n: str) -> str:
        if n.startswith("landing:"):
            ns, _, zone = n.removeprefix("landing:").partition(".")
            return f"landing {zone}" if ns == home else f"landing {ns}.{zone}"
        return n.split(".", 1)[1] if n.startswith(home + ".") else n

    def state_of(n: str) -> str:
        if n.startswith("landing:"):
            return "landing zone"
        if n in status:
            return status[n] or "never run"
        return "no pipeline" if n.startswith(home + ".") else f"outside {home}"

    label = {n: label_of(n) for n in nodes}
    pos = layout(nodes, edges)
    n_cols = max(c for c, _ in pos.values()) + 1
    col_w = [0.0] * n_cols
    for n, (c, _) in pos.items():
        col_w[c] = max(col_w[c], len(label[n]) * CHAR_W + 24, 110)
    col_x = [PAD + sum(col_w[:i]) + GAP_X * i for i in range(n_cols)]
    top = PAD + (22 if title else 0)
    xy = {n: (col_x[c], top + r * (NODE_H + GAP_Y)) for n, (c, r) in pos.items()}
    legend = [(st, st or "never run") for st in ("success", "failed", "running", "pending", "cancelled", None)]
    width = max(col_x[-1] + col_w[-1] + PAD, PAD * 2 + sum(int(len(t) * 6.5) + 34 for _, t in legend))
    legend_y = top + (max(r for _, r in pos.values()) + 1) * (NODE_H + GAP_Y) + 4
    height = legend_y + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
           '<defs><marker id="rat-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8c959f"/></marker></defs>']
    if title:
        out.append(f'<text x="{PAD}" y="{PAD + 8}" font-size="13" font-weight="600" fill="#24292f">'
                   f'{escape(title)}</text>')
    for up, down in sorted(edges):
        (x1, y1), (x2, y2) = xy[up], xy[down]
        sx, sy = x1 + col_w[pos[up][0]], y1 + NODE_H / 2
        ex, ey = x2, y2 + NODE_H / 2
        if ex <= sx:  # an edge that goes back (a cycle): route it below the boxes
            out.append(f'<path d="M {sx:.0f} {sy:.0f} C {sx + 40:.0f} {sy + 60:.0f}, {ex - 40:.0f} {ey + 60:.0f}, '
                       f'{ex:.0f} {ey:.0f}" fill="none" stroke="#cf222e" stroke-dasharray="4 3" '
                       f'marker-end="url(#rat-arrow)"/>')
            continue
        mid = (sx + ex) / 2
        out.append(f'<path d="M {sx:.0f} {sy:.0f} C {mid:.0f} {sy:.0f}, {mid:.0f} {ey:.0f}, {ex:.0f} {ey:.0f}" '
                   f'fill="none" stroke="#8c959f" stroke-width="1.4" marker-end="url(#rat-arrow)"/>')
    for n in nodes:
        x, y = xy[n]
        w = col_w[pos[n][0]]
        st = status.get(n)
        fill, stroke = STATUS_STYLE.get(st, STATUS_STYLE[None])
        if n.startswith("landing:"):
            fill, stroke = LANDING_STYLE
        dash = "" if n in status or n.startswith("landing:") else ' stroke-dasharray="4 3"'
        state = state_of(n)
        out.append(f'<g><title>{escape(n)}: {escape(state)}</title>'
                   f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{NODE_H}" rx="6" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="1.5"{dash}/>'
                   f'<text x="{x + 10:.0f}" y="{y + 18:.0f}" font-size="12" font-weight="600" fill="#24292f">'
                   f'{escape(label[n])}</text>'
                   f'<text x="{x + 10:.0f}" y="{y + 34:.0f}" font-size="11" fill="{stroke}">{escape(state)}</text></g>')
    x = PAD
    for st, text in legend:
        fill, stroke = STATUS_STYLE[st]
        out.append(f'<rect x="{x}" y="{legend_y:.0f}" width="12" height="12" rx="2" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{x + 16}" y="{legend_y + 10:.0f}" font-size="11" fill="#57606a">{text}</text>')
        x += int(len(text) * 6.5) + 34
    out.append("</svg>")
    return "".join(out)
