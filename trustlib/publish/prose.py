"""Numbers in prose: every number of the article's text filled from ``numbers.json``.

A text names each number by a placeholder ``[[key|format]]``: a ``numbers.json`` key and a
Python format spec (``%`` shows a share as a percentage, ``p`` a P value as journals print it).
:func:`fill` replaces every placeholder, and fails on a key the run did not write
(:class:`MissingNumber`); a number disclosure control hid reads ``suppressed``. ``{{text}}``
marks text that is not a number of the run (a year, a DOI, a version, a commit): :func:`literal`.
:func:`render` does both, marking each filled number up for the HTML. The article
(:mod:`trustlib.publish.article`) and its PDF (:mod:`trustlib.publish.typeset`) fill their text here, so the
two say the same.
"""

from __future__ import annotations

import html
import re

from .. import InputError

PLACEHOLDER = re.compile(r"\[\[([A-Za-z0-9_.]+)(?:\|([^\]]*))?\]\]")
LITERAL = re.compile(r"\{\{(.*?)\}\}")    # {{text}}: bibliographic text (years, volumes, DOIs, versions, a commit)


class MissingNumber(InputError):
    """The article names a ``numbers.json`` key that the run did not write."""


def _fmt(value, spec: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):                    # "suppressed" by disclosure control
        return value
    if spec.endswith("d") and float(value).is_integer():
        value = int(value)
    if spec.endswith("%"):                        # a share as a percentage ("%": whole, ".1%": one decimal)
        digits = spec[:-1] or ".0"
        text = f"{100 * value:{digits}f}"
        unit = 10.0 ** -int(digits[1:])                    # never round a share up to all or down to none
        if 0 < value < 1 and float(text) == 100:
            return f"> {100 - unit:{digits}f}%"
        if 0 < value < 1 and float(text) == 0:
            return f"< {unit:{digits}f}%"
        return f"{text}%"
    if spec == "p":                               # P values as journals print them
        return "< .001" if value < 0.001 else f"{value:.3f}".lstrip("0")
    return format(value, spec) if spec else f"{value:g}"


PAIR = re.compile(r"(\[\[([A-Za-z0-9_.]+)(?:\|[^\]]*)?\]\]) \(\[\[([A-Za-z0-9_.]+)(?:\|[^\]]*)?\]\]%?\)")


def hidden(numbers: dict, key: str) -> bool:
    """Whether disclosure control hid the number ``key`` (it reads ``suppressed``)."""
    return isinstance(numbers.get(key), str)


def fill(template: str, numbers: dict, wrap=None) -> str:
    """Fill every ``[[key|format]]`` (``wrap(key, text)`` marks each filled number up). A pair
    ``[[n]] ([[share]])`` (n (%), mean (SD)) of two hidden numbers reads ``suppressed`` once."""
    missing = sorted({m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) not in numbers})
    if missing:
        raise MissingNumber(f"the article names numbers the run did not write: {missing}")
    template = PAIR.sub(lambda m: m.group(1) if hidden(numbers, m.group(2)) and hidden(numbers, m.group(3))
                        else m.group(0), template)

    def one(m: re.Match) -> str:
        text = _fmt(numbers[m.group(1)], m.group(2) or "")
        return wrap(m.group(1), text) if wrap else text

    return PLACEHOLDER.sub(one, template)


def render(template: str, numbers: dict, markup: bool) -> str:
    """Fill every ``[[key|format]]``; with ``markup``, wrap each in a span naming its key, and each
    ``{{literal}}`` in a span of class ``lit`` (else the literal's text alone)."""
    wrap = (lambda key, text: f'<span class="n" data-key="{key}">{html.escape(text)}</span>') if markup else None
    return literal(fill(template, numbers, wrap), markup)


def literal(text: str, markup: bool = False) -> str:
    """``{{text}}`` marks text that is not a number of the run (a reference's year and DOI, a
    software version, the commit): its text, in a ``<span class="lit">`` with ``markup``."""
    return LITERAL.sub((lambda m: f'<span class="lit">{m.group(1)}</span>') if markup else (lambda m: m.group(1)), text)
