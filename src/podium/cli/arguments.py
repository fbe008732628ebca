"""Argument types for the command line: numbers refused at parse time unless finite and in range.

Use them as argparse `type=` functions; a bad value stops the command before anything runs, with
argparse's usage line and one error line naming the option, e.g.
`podium loadgen null: error: argument --target-qps: must be a finite number > 0, not 'nan'` (exit 2):

    p.add_argument("--target-qps", type=positive_float)
    p.add_argument("--min-duration-ms", type=nonnegative_int)
    p.add_argument("--threads", type=int_in(1, 256))

Python's `float()` takes 'nan', 'inf' and '1e999' (inf), and `int()` takes '1_000'; these types refuse
the non-finite ones, and echo at most ~40 characters of what they refuse. A default given to
`add_argument` is not passed through `type` unless it is a string: keep defaults valid.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from podium.core.errors import shown

__all__ = [
    "finite_float",
    "float_in",
    "int_in",
    "nonnegative_float",
    "nonnegative_int",
    "positive_float",
    "positive_int",
]

def _shown(text: str) -> str:
    return shown(text, limit=60)


def int_in(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (None: unbounded on that side)."""
    what = f"an integer {_range(low, high)}" if low is not None or high is not None else "an integer"

    def parse(text: str) -> int:
        try:
            n = int(text.strip())
        except ValueError:
            n = None
        if n is None or (low is not None and n < low) or (high is not None and n > high):
            raise argparse.ArgumentTypeError(f"must be {what}, not {_shown(text)}")
        return n
    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def float_in(low: float | None = None, high: float | None = None, *, open_low: bool = False,
             open_high: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] ((low, ...] with open_low; None: unbounded)."""
    what = "a finite number"
    if low is not None or high is not None:
        what += " " + _range(low, high, open_low, open_high)

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            x = math.nan
        below = low is not None and (x < low or (open_low and x == low))
        above = high is not None and (x > high or (open_high and x == high))
        if not math.isfinite(x) or below or above:
            raise argparse.ArgumentTypeError(f"must be {what}, not {_shown(text)}")
        return x
    parse.__name__ = "number"
    return parse


def _range(low: float | None, high: float | None, open_low: bool = False, open_high: bool = False) -> str:
    if high is None:
        return f"{'>' if open_low else '>='} {low:g}"
    if low is None:
        return f"{'<' if open_high else '<='} {high:g}"
    return f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"


positive_int = int_in(1)
positive_int.__doc__ = "An integer >= 1 (a count of samples, threads, repetitions)."
nonnegative_int = int_in(0)
nonnegative_int.__doc__ = "An integer >= 0 (a duration in ms where 0 means 'none', a seed)."
finite_float = float_in()
finite_float.__doc__ = "Any finite number: refuses nan, inf and overflowing text like 1e999."
positive_float = float_in(0.0, open_low=True)
positive_float.__doc__ = "A finite number > 0 (a QPS, a latency)."
nonnegative_float = float_in(0.0)
nonnegative_float.__doc__ = "A finite number >= 0."
