"""Reading the YAML files people write: parameter files (``params/``), ``column_map.yml`` and
``--set`` values.

YAML is read with the safe loader, bounded: a file must be a regular file under
:data:`MAX_BYTES`, anchors and aliases are refused (a few lines of aliases can expand to
gigabytes), nesting deeper than :data:`MAX_DEPTH` is refused, and a key given twice in one
mapping is an error rather than the last one silently winning. Every failure is a
:class:`ParameterError` naming the file (or the ``--set`` item).

:func:`non_default` says which of a run's parameters differ from ``params/pipeline.yml``, and
:func:`parameter_words` names them, for the runner's messages, the report and the article.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import InputError, paths

MAX_BYTES = 1_000_000
MAX_DEPTH = 20


class ParameterError(InputError):
    """A parameter file or value a run cannot use (exit status 2); the message names each one."""


class _Loader(yaml.SafeLoader):
    """YAML's safe loader without aliases, with a nesting limit and unique keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "anchors (&name) and aliases (*name) are not allowed",
                                              self.peek_event().start_mark)
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(None, None, "anchors (&name) and aliases (*name) are not allowed",
                                              event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse(text: str, where: str):
    """The YAML value of ``text`` (from ``where``, for the message)."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        first = " ".join(str(err).split())
        raise ParameterError(f"{where}: not valid YAML ({first})") from None
    except RecursionError:
        raise ParameterError(f"{where}: not valid YAML (nested too deeply)") from None


def read_text(path: Path) -> str:
    """A small regular text file's contents (UTF-8), or :class:`ParameterError` saying why not."""
    name = paths.relative(Path(path))
    p = Path(path)
    try:
        if not p.is_file():
            raise ParameterError(f"{name}: {'not found' if not p.exists() else 'not a regular file'}")
        if p.stat().st_size > MAX_BYTES:
            raise ParameterError(f"{name}: larger than {MAX_BYTES // 1000} kB; a parameter file is a few lines")
        with open(p, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParameterError(f"{name}: not UTF-8 text") from None
    except OSError as err:
        raise ParameterError(f"{name}: cannot be read ({err.strerror or err})") from None


def load_yaml(path: Path) -> dict:
    """A YAML file that maps names to values (``{}`` when empty)."""
    data = parse(read_text(path), paths.relative(Path(path))) or {}
    if not isinstance(data, dict):
        raise ParameterError(f"{paths.relative(Path(path))}: must map parameter names to values, "
                             f"not a {type(data).__name__}")
    return data


def synthetic_params(path: Path | None = None) -> dict:
    """Generator parameters (``params/synthetic.yml``)."""
    return load_yaml(path or paths.SYNTHETIC_PARAMS)


NOT_A_DEVIATION = {"data_source"}   # chosen by `--data` (make's DATA=), not a departure from the defaults


def non_default(parameters: dict) -> dict:
    """Those of a run's ``parameters`` that differ from ``params/pipeline.yml``, sorted by name;
    the data source is not one of them (a raw run with the defaults runs with the defaults)."""
    defaults = load_yaml(paths.PIPELINE_PARAMS)
    return {k: v for k, v in sorted(parameters.items())
            if k in defaults and k not in NOT_A_DEVIATION and defaults[k] != v}


def parameter_words(changed: dict) -> str:
    """``name=value`` for each parameter of ``changed`` (lists comma-separated), for messages and prose."""
    def value(v):
        return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return ", ".join(f"{k}={value(v)}" for k, v in changed.items())
