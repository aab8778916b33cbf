#!/usr/bin/env python3
"""Generate crates/deadbolt-trail/assets/world-land-110m.txt, the world map outline.

Source: Natural Earth 1:110m land (public domain, naturalearthdata.com), as packaged
in TopoJSON by the npm package `world-atlas` (pinned below; its land-110m.json). The
output is ONE SVG path `d` string (no header, nothing else in the file) of the land
polygons in a plain equirectangular projection for viewBox="0 0 360 180":
x = longitude + 180, y = 90 - latitude, coordinates rounded to 0.1 degree, each ring
simplified with Douglas-Peucker (tolerance TOLERANCE degrees) and rings with fewer
than 3 points or an area under MIN_AREA square degrees dropped. world-atlas keeps
rings whole across the antimeridian, so those (Chukotka, Fiji, Wrangel) are cut at
x = 0/360 and Antarctica, which circles the pole, is closed along y = 180. Draw it
with fill-rule="evenodd" (one land polygon has a hole). To regenerate (needs python3
and npm reaching the npm registry; stdlib only):  python3 scripts/world-outline.py
[--test-svg /tmp/world.svg]  -- it runs `npm pack world-atlas@VERSION` in a temp dir,
reads land-110m.json from the tarball, writes the asset and prints its size.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

WORLD_ATLAS_VERSION = "2.0.2"
TOLERANCE = 0.3  # degrees, Douglas-Peucker
MIN_AREA = 0.5  # square degrees, in the output (projected) plane
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "deadbolt-trail" / "assets" / "world-land-110m.txt"
MAX_BYTES = 80 * 1024


def fetch_topology(version: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="world-atlas-") as tmp:
        res = subprocess.run(
            ["npm", "pack", f"world-atlas@{version}", "--silent", "--pack-destination", tmp],
            cwd=tmp, check=True, capture_output=True, text=True,
        )
        names = [ln.strip() for ln in res.stdout.splitlines() if ln.strip().endswith(".tgz")]
        tgz = Path(tmp) / (names[-1] if names else f"world-atlas-{version}.tgz")
        with tarfile.open(tgz, "r:gz") as tar:
            member = tar.extractfile("package/land-110m.json")
            if member is None:
                sys.exit("land-110m.json not found in the world-atlas tarball")
            return json.load(member)


def decode_arcs(topo: dict) -> list[list[tuple[float, float]]]:
    """Undo TopoJSON quantization and delta encoding: arcs in (lon, lat) degrees."""
    tr = topo.get("transform")
    arcs = []
    for arc in topo["arcs"]:
        if tr:
            (sx, sy), (tx, ty) = tr["scale"], tr["translate"]
            x = y = 0
            pts = []
            for dx, dy, *_ in arc:
                x += dx
                y += dy
                pts.append((x * sx + tx, y * sy + ty))
        else:
            pts = [(p[0], p[1]) for p in arc]
        arcs.append(pts)
    return arcs


def ring_points(ring: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Stitch a ring's arcs; a negative index ~i is arc i reversed. Shared ends are dropped."""
    pts: list[tuple[float, float]] = []
    for idx in ring:
        arc = arcs[~idx][::-1] if idx < 0 else arcs[idx]
        pts.extend(arc[1:] if pts else arc)
    return pts


def unwrap(pts):
    """Make longitudes continuous (steps over 180 degrees are antimeridian crossings)."""
    out = [pts[0]]
    for lon, lat in pts[1:]:
        prev = out[-1][0]
        while lon - prev > 180.0:
            lon -= 360.0
        while lon - prev < -180.0:
            lon += 360.0
        out.append((lon, lat))
    return out


def clip_half(pts, x0: float, keep_greater: bool):
    """Sutherland-Hodgman against the vertical line x = x0."""
    def inside(p):
        return p[0] >= x0 if keep_greater else p[0] <= x0

    out = []
    for i, cur in enumerate(pts):
        prev = pts[i - 1]
        if inside(cur):
            if not inside(prev):
                out.append(cross_at(prev, cur, x0))
            out.append(cur)
        elif inside(prev):
            out.append(cross_at(prev, cur, x0))
    return out


def cross_at(a, b, x0: float):
    t = (x0 - a[0]) / (b[0] - a[0])
    return (x0, a[1] + t * (b[1] - a[1]))


def cut_antimeridian(pts):
    """world-atlas keeps rings whole across the antimeridian (for spherical use):
    unwrap each ring, close a ring that circles a pole (Antarctica) along that pole,
    then clip it and its copies shifted by +-360 degrees to -180..180."""
    if pts and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        return []
    un = unwrap(pts + pts[:1])
    net = un[-1][0] - un[0][0]
    if abs(net) > 180.0:
        pole = -90.0 if sum(lat for _, lat in un) < 0 else 90.0
        poly = un + [(un[-1][0], pole), (un[0][0], pole)]
    else:
        poly = un[:-1]
    lo = min(x for x, _ in poly)
    hi = max(x for x, _ in poly)
    if lo >= -180.0 and hi <= 180.0:
        return [poly]
    pieces = []
    for shift in (-360.0, 0.0, 360.0):
        if hi + shift <= -180.0 or lo + shift >= 180.0:
            continue
        moved = [(x + shift, y) for x, y in poly]
        piece = clip_half(clip_half(moved, -180.0, True), 180.0, False)
        if len(piece) >= 3:
            pieces.append(piece)
    return pieces


def project(lon: float, lat: float) -> tuple[float, float]:
    return lon + 180.0, 90.0 - lat


def perp_dist(p, a, b) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    if dx == 0 and dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def douglas_peucker(pts, tol):
    """Iterative Douglas-Peucker on an open polyline; keeps both ends."""
    if len(pts) < 3:
        return list(pts)
    keep = [False] * len(pts)
    keep[0] = keep[-1] = True
    stack = [(0, len(pts) - 1)]
    while stack:
        i, j = stack.pop()
        best, idx = -1.0, -1
        for k in range(i + 1, j):
            d = perp_dist(pts[k], pts[i], pts[j])
            if d > best:
                best, idx = d, k
        if idx >= 0 and best > tol:
            keep[idx] = True
            stack.append((i, idx))
            stack.append((idx, j))
    return [p for p, k in zip(pts, keep) if k]


def simplify_ring(pts, tol):
    """A closed ring: split at the point farthest from the first, simplify both halves."""
    if pts and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        return pts
    far = max(range(len(pts)), key=lambda k: math.hypot(pts[k][0] - pts[0][0], pts[k][1] - pts[0][1]))
    a = douglas_peucker(pts[: far + 1], tol)
    b = douglas_peucker(pts[far:] + [pts[0]], tol)
    return a[:-1] + b[:-1]


def area(pts) -> float:
    s = 0.0
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def fmt(v: float) -> str:
    s = f"{v:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


def build_path(topo: dict, tol: float, min_area: float) -> tuple[str, int, int]:
    arcs = decode_arcs(topo)
    polygons = []
    for geom in topo["objects"]["land"]["geometries"]:
        if geom["type"] == "Polygon":
            polygons.append(geom["arcs"])
        elif geom["type"] == "MultiPolygon":
            polygons.extend(geom["arcs"])
    parts, kept, dropped = [], 0, 0
    for poly in polygons:
        for ring in poly:
            for piece in cut_antimeridian(ring_points(ring, arcs)):
                pts = simplify_ring([project(lon, lat) for lon, lat in piece], tol)
                rounded = []
                for x, y in pts:
                    p = (round(min(max(x, 0.0), 360.0), 1), round(min(max(y, 0.0), 180.0), 1))
                    if not rounded or rounded[-1] != p:
                        rounded.append(p)
                while len(rounded) > 1 and rounded[0] == rounded[-1]:
                    rounded.pop()
                if len(rounded) < 3 or area(rounded) < min_area:
                    dropped += 1
                    continue
                kept += 1
                head, *rest = rounded
                parts.append(
                    f"M{fmt(head[0])} {fmt(head[1])}L" + " ".join(f"{fmt(x)} {fmt(y)}" for x, y in rest) + "Z"
                )
    return "".join(parts), kept, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--tolerance", type=float, default=TOLERANCE)
    ap.add_argument("--min-area", type=float, default=MIN_AREA)
    ap.add_argument("--test-svg", type=Path, help="also write a standalone SVG preview here")
    args = ap.parse_args()

    topo = fetch_topology(WORLD_ATLAS_VERSION)
    d, kept, dropped = build_path(topo, args.tolerance, args.min_area)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(d + "\n", encoding="ascii")
    size = args.out.stat().st_size
    print(f"{args.out}: {size} bytes, {kept} rings kept, {dropped} dropped "
          f"(world-atlas@{WORLD_ATLAS_VERSION} land-110m, tolerance {args.tolerance})")
    if size > MAX_BYTES:
        sys.exit(f"asset is {size} bytes, over the {MAX_BYTES} byte limit")
    if args.test_svg:
        args.test_svg.write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 180" width="1440" height="720">'
            '<rect width="360" height="180" fill="#dbe9f6"/>'
            '<path d="M180 0V180M0 90H360" stroke="#9ab" stroke-width="0.2"/>'
            f'<path fill="#8a9" fill-rule="evenodd" stroke="#354" stroke-width="0.15" d="{d}"/></svg>\n',
            encoding="ascii",
        )
        print(f"preview: {args.test_svg}")


if __name__ == "__main__":
    main()
