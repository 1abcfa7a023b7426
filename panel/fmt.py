"""Small pure formatting helpers shared by the views (numbers, durations, bars)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size

NONE = "\u2013"  # en dash: no value
TIMES = "\u00d7"  # multiplication sign, for speedups
SPARK = "▁▂▃▄▅▆▇█"
BREAK = -math.inf  # a history value that marks an engine restart (drawn as BREAK_MARK)
BREAK_MARK = "┊"
EIGHTHS = " ▏▎▍▌▋▊▉█"
PERIOD = {"minute": "min", "hour": "h", "day": "day"}  # a budget's period, short
REASON = {"failures": "failures", "operator": "drained"}  # why a provider rests


def num(value: float | int | None) -> str:
    """A count, compact: 999, 1.2k, 34.5k, 1.2M."""
    if value is None:
        return NONE
    v = float(value)
    a = abs(v)
    if a < 1000:
        return f"{int(v)}" if v == int(v) else f"{v:.1f}"
    for unit, size in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        # 999_999 is "1.0M", not "1000.0k": compare what would be printed
        if round(a / size, 1) < 1000 or unit == "G":
            return f"{v / size:.1f}{unit}"
    return str(v)  # pragma: no cover


def rate(value: float | None) -> str:
    """A per-second rate: 0.4, 7.5, 42, 980, 1.2k, 56.3k."""
    if value is None or not math.isfinite(value):
        return NONE
    if abs(value) < 10:
        return f"{value:.1f}"
    if abs(value) < 1000:
        return f"{value:.0f}"
    return num(value)


def pct(fraction: float | None, digits: int = 1) -> str:
    """0.734 -> '73.4%'; a share above 0 too small for ``digits`` is '<1%' (or '<0.1%'),
    not '0%', which reads as none (a weight of 1 beside 1,000 looked drained)."""
    if fraction is None or not math.isfinite(fraction):
        return NONE
    text = f"{fraction * 100:.{digits}f}"
    if fraction > 0 and float(text) == 0:
        return f"<{10.0**-digits:.{digits}f}%"
    return text + "%"


def secs(value: float | None) -> str:
    """A latency or duration in seconds, with a fitting unit: 850µs, 12ms, 1.42s, 3m05s."""
    if value is None or not math.isfinite(value):
        return NONE
    v = float(value)
    if v < 0:
        return "-" + secs(-v)
    if v < 1e-3:
        return f"{v * 1e6:.0f}µs"
    if round(v * 1e3) < 1000:  # 0.9999 is "1.00s", not "1000ms"
        return f"{v * 1e3:.0f}ms" if v >= 0.01 else f"{v * 1e3:.1f}ms"
    if round(v, 2) < 60:  # 59.999 is "1m00s", not "60.00s"
        return f"{v:.2f}s"
    return uptime(round(v))


def uptime(value: float | None) -> str:
    """A long duration: 42s, 3m05s, 2h07m, 3d04h."""
    if value is None or not math.isfinite(value):
        return NONE
    s = int(value)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def money(value: float | None) -> str:
    """USD with enough digits for sub-cent costs: $0.0042, $1.23, $1.2k."""
    if value is None or not math.isfinite(value):
        return NONE
    v = float(value)
    if v == 0:
        return "$0"
    if abs(v) < 0.0001:
        # per-call costs: $0.000048 (two significant digits), never $4.8e-05 or $0.0000
        digits = max(0, 1 - math.floor(math.log10(abs(v))))
        return f"${v:.{digits}f}"
    if abs(v) < 0.01:
        return f"${v:.4f}"
    if abs(v) < 1000:
        return f"${v:.2f}"
    return "$" + num(v)


def as_typed(seconds: float) -> str:
    """Seconds the way an operator types them in a TTL or drain box: "10m" for 600,
    "2h", "1d", "90", "1.5" (what ``durations.seconds_of`` reads back)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}"


def ttl(value: float | None) -> str:
    """A TTL: 'none' or a duration."""
    if value is None:
        return "none"
    if value < 1:
        return secs(value)
    if round(value, 2) < 60:  # a setting, not a measurement: "30s", "1.5s", never "30.00s"
        return f"{value:.2f}".rstrip("0").rstrip(".") + "s"
    # A setting is shown whole: 1e5 s is "1d03h46m40s", not the "1d03h" an uptime reads.
    s = round(value)
    shown = uptime(s)
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if d and (m or sec):
        shown += f"{m:02d}m" + (f"{sec:02d}s" if sec else "")
    elif h and sec:
        shown += f"{sec:02d}s"
    return shown


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar ``width`` cells wide filled to ``fraction`` with 1/8 precision."""
    if width <= 0:
        return ""
    f = 0.0 if fraction is None or not math.isfinite(fraction) else min(max(fraction, 0.0), 1.0)
    eighths = round(f * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full
    if part and full < width:
        text += EIGHTHS[part]
    return text.ljust(width)


def sparkline(values: Sequence[float | None], width: int, lo: float = 0.0, hi: float = 1.0) -> str:
    """The last ``width`` values as block characters scaled between ``lo`` and ``hi``.

    ``None`` (no traffic in that interval) is drawn as a space; the line is right-aligned so
    the newest value is always at the right edge.
    """
    if width <= 0:
        return ""
    vals = list(values)[-width:]
    span = hi - lo if hi > lo else 1.0
    out = []
    for v in vals:
        if v == BREAK:
            out.append(BREAK_MARK)
        elif v is None or not math.isfinite(v):
            out.append(" ")
            continue
        level = (min(max(v, lo), hi) - lo) / span
        out.append(SPARK[min(len(SPARK) - 1, int(level * (len(SPARK) - 1) + 0.5))])
    return "".join(out).rjust(width)


def cells(text: str) -> int:
    """How many terminal cells ``text`` takes (a CJK character or an emoji takes two)."""
    return cell_len(text)


def clip(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells with an ellipsis (cells, not characters: a wide
    character cut in half becomes a space, so the result is never wider than ``width``)."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1) + "…"


def path_tail(path: str, room: int) -> str:
    """``path`` in ``room`` cells: whole, else "…/" and as many whole trailing parts as
    fit (so it does not change as the room moves by a cell or two: a header whose
    figures grow and shrink kept cutting the socket at another letter), else its end."""
    if cell_len(path) <= room:
        return path
    parts = path.split("/")
    for i in range(1, len(parts)):
        tail = "…/" + "/".join(parts[i:])
        if cell_len(tail) <= room:
            return tail
    return "…" + path[-(room - 1) :] if room > 1 else ""


def first_that_fits(width: int, *candidates: str) -> str:
    """The first of ``candidates`` (longest form first) that fits ``width`` cells, else
    the last one clipped: one line that drops its optional parts before it is cut."""
    for text in candidates:
        if cell_len(text) <= width:
            return text
    return clip(candidates[-1], width)


def fit(text: str, width: int) -> str:
    """``text`` clipped and padded to exactly ``width`` cells (aligned columns)."""
    out = clip(text, width)
    return out + " " * (width - cell_len(out))


def countdown(seconds: float) -> str:
    """Whole seconds left, rounded up (a cooldown reads "1s" until it is over)."""
    return uptime(math.ceil(seconds))


def budget(b: dict[str, Any], short: bool = False) -> str:
    """ "$1.80 of $5.00/h" (what is left of this period's budget); ``short``: "$1.80 of $5/h"."""
    per = PERIOD.get(str(b.get("period")), str(b.get("period")))
    usd = b.get("usd")
    if short and isinstance(usd, (int, float)) and float(usd).is_integer():
        limit = f"${float(usd):,.0f}"
    else:
        limit = money(usd)
    return f"{money(b.get('remaining'))} of {limit}/{per}"


def count(n: int, noun: str) -> str:
    """ "1 result", "3 results" (never "result(s)")."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def one_line(text: Any) -> str:
    """An error message on one line (a provider's body may carry newlines)."""
    return " ".join(str(text).split()) if text else ""
