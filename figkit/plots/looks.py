"""One colour, marker and line style per method, the same in every figure of a build; and the colours of what
is not a method (an amount, a layer), which never borrow a method's hue.

A method's look follows from the results file's ``methods`` list, never from where the method happens
to be drawn: the baseline is neutral; the members of a family that varies a parameter (BH at several
α) share one hue, light to dark in the order of that parameter; every other method has a hue of its
own. The hues are the active style's colour cycle (Tol's bright scheme in ``paper``, Okabe–Ito in
``colourblind``, whose markers and line styles come along), so a method keeps its place in every style.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib as mpl
from matplotlib.colors import to_rgb

BASELINE = {"color": "0.45", "marker": "*", "linestyle": "--"}  # neutral grey, a star, dashed: the reference
MARKERS = ("o", "s", "D", "^", "v", "P", "X")  # for styles whose cycle has no markers
LIGHTEST, DARKEST = 0.4, 0.4  # a family's first member mixes this much white into its hue, its last black
AMOUNT_RANGE = (0.2, 0.95)  # of the style's image.cmap: its palest end is too faint to see against white
LAYER_MAP, LAYER_RANGE = "viridis", (0.0, 0.8)  # past 0.8 viridis turns a yellow-green too faint in print
LAYER_COLOURS_SAID = "dark purple for the first layer to green for the last"  # what a caption says of them


@dataclass(frozen=True)
class Look:
    """How one method is drawn: pass ``look.line()`` to ``plot``, ``look.color`` to bars."""

    color: tuple
    marker: str
    linestyle: object

    def line(self):
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle}


@dataclass(frozen=True)
class Role:
    """A method's place among the declared methods, independent of any style: ``look()`` draws it."""

    baseline: bool = False
    hue: int = 0  # which of the style's hues
    rank: int = 0  # place in its family, by the family's parameter
    size: int = 1  # members of its family that share the hue

    def look(self) -> Look:
        """The colour, marker and line style of this role under the active style."""
        if self.baseline:
            return Look(to_rgb(BASELINE["color"]), BASELINE["marker"], BASELINE["linestyle"])
        cycle = mpl.rcParams["axes.prop_cycle"].by_key()
        hues = [to_rgb(c) for c in cycle["color"] if _chromatic(c)] or [to_rgb("C0")]
        markers = [m for m in cycle.get("marker", MARKERS) if m != BASELINE["marker"]]
        linestyles = [ls for ls in cycle.get("linestyle", ["-"]) if ls != BASELINE["linestyle"]] or ["-"]
        base = hues[self.hue % len(hues)]
        return Look(
            _shade(base, self.rank / (self.size - 1)) if self.size > 1 else base,
            markers[self.hue % len(markers)],
            linestyles[self.hue % len(linestyles)],
        )


def method_looks(labels: Iterable[str], methods: Sequence[Mapping] | None = None) -> dict[str, Look]:
    """``{label: Look}`` under the active style for the methods named by ``labels`` (their labels or ids).

    ``methods`` is the results file's ``methods`` list; looks are assigned over all of it, so a method has
    the same look whichever others a figure shows. Labels it does not name get hues after the declared
    ones, in the order given (without ``methods``, every label a hue of its own).
    """
    return {label: role.look() for label, role in method_roles(labels, methods).items()}


def method_roles(labels: Iterable[str], methods: Sequence[Mapping] | None = None) -> dict[str, Role]:
    """``{label: Role}``: what ``method_looks`` draws, as plain data a figure's ``prepare`` can keep."""
    labels = list(labels)
    roles = _roles(_checked(methods))
    named = {}
    for method in methods or []:
        named[method["id"]] = named[method.get("label", method["id"])] = roles[method["id"]]
    next_hue = 1 + max((role.hue for role in roles.values() if not role.baseline), default=-1)
    for label in labels:
        if label not in named:
            named[label] = Role(hue=next_hue)
            next_hue += 1
    return {label: named[label] for label in labels}


def method_role(name: str | None, methods: Sequence[Mapping] | None) -> Role:
    """The role of one method (by label or id) among the declared ``methods``: a figure of that method
    alone draws in its colour; the first hue without them."""
    return method_roles([name], methods)[name] if name is not None and methods else Role()


def family_role(family: str, methods: Sequence[Mapping] | None) -> Role:
    """The role of a family's own hue (a sweep over its parameter is drawn in it): the base colour its
    members shade light to dark; the first hue when ``methods`` declares no such family."""
    members = [m for m in _checked(methods) if m.get("family") == family and not m.get("baseline")]
    roles = _roles(_checked(methods))
    return Role(hue=roles[members[0]["id"]].hue) if members else Role()


def _checked(methods):
    if methods is None:
        return []
    if isinstance(methods, (str, bytes, Mapping)) or not isinstance(methods, Sequence):
        raise TypeError(f"methods must be a results file's list of methods, got {type(methods).__name__}")
    for i, method in enumerate(methods):
        if not isinstance(method, Mapping) or not isinstance(method.get("id"), str):
            raise ValueError(f"methods[{i}] must be a method of a results file: a mapping with an 'id'")
    return methods


def _roles(methods):
    """Each method id's role, from the declared list alone (no style involved)."""
    roles, hues = {}, {}
    members = {}
    for method in methods:
        if not method.get("baseline") and method.get("family") is not None:
            members.setdefault(method["family"], []).append(method)
    for method in methods:
        if method.get("baseline"):
            roles[method["id"]] = Role(baseline=True)
            continue
        family = method.get("family")
        group = members.get(family, [method]) if family is not None else [method]
        key = ("family", family) if len(group) > 1 else ("method", method["id"])
        hue = hues.setdefault(key, len(hues))
        order = _by_parameter(group)
        roles[method["id"]] = Role(hue=hue, rank=order.index(method["id"]), size=len(group))
    return roles


def shaded_families(methods: Sequence[Mapping] | None) -> list[tuple[str | None, list[str]]]:
    """Each family drawn in shades of one hue: (the parameter its shades follow, or None for the order
    declared; its members' ids, lightest first)."""
    groups: dict[str, list[Mapping]] = {}
    for method in _checked(methods):
        if not method.get("baseline") and method.get("family") is not None:
            groups.setdefault(method["family"], []).append(method)
    keyed = [(_shading_key(group), group) for group in groups.values() if len(group) > 1]
    return [(key, _ordered(group, key)) for key, group in keyed]


def _by_parameter(group):
    """The ids of a family's members ordered by the numeric parameter that varies among them (α first when
    several do), else as declared."""
    return _ordered(group, _shading_key(group))


def _ordered(group, key):
    """The ids of ``group`` by their parameter ``key``, or as declared when it is None."""
    return [m["id"] for m in (group if key is None else sorted(group, key=lambda m: m["params"][key]))]


def _shading_key(group):
    """The numeric parameter that varies among a family's members (α first when several do), or None."""
    params = [m.get("params") or {} for m in group]
    varying = sorted(
        key
        for key in {key for p in params for key in p}
        if all(_is_number(p.get(key)) for p in params) and len({p[key] for p in params}) > 1
    )
    return ("alpha" if "alpha" in varying else varying[0]) if varying else None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _chromatic(colour):
    """Whether a colour has a hue (the cycle's grey and black stay for neutral marks)."""
    _, lightness, saturation = colorsys.rgb_to_hls(*to_rgb(colour))
    return saturation > 0.2 and 0.05 < lightness < 0.95


def _shade(base, t):
    """``base`` from light (t = 0, mixed with white) through itself (t = 0.5) to dark (t = 1, mixed with black)."""
    if t <= 0.5:
        light = tuple(c + (1 - c) * LIGHTEST for c in base)
        return tuple(lo + (c - lo) * 2 * t for lo, c in zip(light, base))
    dark = tuple(c * (1 - DARKEST) for c in base)
    return tuple(c + (d - c) * (2 * t - 1) for c, d in zip(base, dark))


def amount_colours(n):
    """``n`` colours, light to dark, for an ordered amount that is no method (the experts a token selects):
    the style's sequential map, as its heatmaps draw amounts, so that no shade reads as a method of a family."""
    cmap = mpl.colormaps[mpl.rcParams["image.cmap"]]
    steps = [i / (n - 1) for i in range(n)] if n > 1 else [0.5]
    return [to_rgb(cmap(AMOUNT_RANGE[0] + (AMOUNT_RANGE[1] - AMOUNT_RANGE[0]) * t)) for t in steps]


def layer_colours(layers):
    """A colour for each of ``layers`` (their ids): its place between layer 0 and the last on one scale, the
    same in every figure that tells layers apart, in no method's hue."""
    cmap = mpl.colormaps[LAYER_MAP]
    last = max(max(layers), 1)
    return [to_rgb(cmap(LAYER_RANGE[0] + (LAYER_RANGE[1] - LAYER_RANGE[0]) * layer / last)) for layer in layers]
