"""The report's chart: bounces and unsubscribes per hour over a send's first
48 hours, drawn as a PNG with matplotlib.

matplotlib is imported on first use (it takes a moment to import, and most
processes never draw a chart), with its non-interactive Agg backend: a bot
has no display. The picture carries no addresses and no typed text — only
the issue number, the figures and the axis labels given by the caller (the
front end's catalogue, so that they follow LANGUAGE).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from bot.outcomes import Timeline

# pyplot's state machine is not thread-safe; the object API with one lock is.
_DRAWING = threading.Lock()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ChartLabels:
    title: str
    hours: str  # the x axis: hours since the send started
    count: str  # the y axis
    bounces: str
    unsubscribes: str


def draw(timeline: Timeline, labels: ChartLabels) -> bytes:
    """The chart as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    hours = list(range(len(timeline.bounces)))
    with _DRAWING:
        figure = Figure(figsize=(8, 3.2), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        width = 0.4
        axes.bar(
            [h - width / 2 for h in hours],
            timeline.bounces,
            width=width,
            label=labels.bounces,
            color="#c0392b",
        )
        axes.bar(
            [h + width / 2 for h in hours],
            timeline.unsubscribes,
            width=width,
            label=labels.unsubscribes,
            color="#2980b9",
        )
        axes.set_title(labels.title)
        axes.set_xlabel(labels.hours)
        axes.set_ylabel(labels.count)
        axes.set_xlim(-1, len(hours))
        axes.set_xticks(list(range(0, len(hours) + 1, 6)))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper right")
        axes.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
    return out.getvalue()
