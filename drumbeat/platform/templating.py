"""Templates rendered in Jinja2's immutable sandbox, with size and time limits.

The sandbox blocks attribute tricks (``''.__class__.__mro__``) but bounds no resources, so
this module also caps the source size, the output size, ranges, string/list repetition
and the render time (checked as output is produced).
"""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

from jinja2 import ChainableUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SOURCE_CHARS = 100_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_RENDER_SECONDS = 2.0
MAX_RANGE = 10_000


class TemplateProblem(ValueError):
    """A template cannot be compiled or rendered; ``line`` is set for syntax errors."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


class _LimitedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    if len(seq) * times > MAX_OUTPUT_CHARS:
                        raise SecurityError("the result of this repetition is too large")
            return operator.mul(left, right)
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise SecurityError("the exponent is too large")
            return operator.pow(left, right)
        return super().call_binop(context, operator_name, left, right)


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"a range may have at most {MAX_RANGE} items")
    return rng


@dataclass(frozen=True)
class TemplateRenderer:
    """Compiles and renders templates; one per process, shared by every action."""

    filters: Mapping[str, Callable] | None = None

    def __post_init__(self) -> None:
        envs = {}
        for autoescape in (False, True):
            env = _LimitedSandbox(autoescape=autoescape, undefined=ChainableUndefined)
            env.globals["range"] = _safe_range
            env.filters.update(self.filters or {})
            envs[autoescape] = env
        object.__setattr__(self, "_envs", envs)
        object.__setattr__(self, "_compile", lru_cache(maxsize=512)(self._compile_uncached))

    def _compile_uncached(self, source: str, html: bool):
        if len(source) > MAX_SOURCE_CHARS:
            raise TemplateProblem(f"the template is longer than {MAX_SOURCE_CHARS} characters")
        try:
            return self._envs[html].from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(exc.message or "syntax error", line=exc.lineno) from None

    def check(self, source: str, html: bool = False) -> None:
        """Raise :class:`TemplateProblem` (with the line) when ``source`` does not compile."""
        self._compile(source, html)

    def render(self, source: str, context: Mapping[str, Any], html: bool = False) -> str:
        template = self._compile(source, html)
        started = time.monotonic()
        parts: list[str] = []
        size = 0
        try:
            for part in template.generate(**context):
                size += len(part)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateProblem(f"the output is longer than {MAX_OUTPUT_CHARS} characters")
                if time.monotonic() - started > MAX_RENDER_SECONDS:
                    raise TemplateProblem(f"rendering took longer than {MAX_RENDER_SECONDS} s")
                parts.append(part)
        except TemplateProblem:
            raise
        except (SecurityError, TemplateError) as exc:
            raise TemplateProblem(str(exc)) from None
        except Exception as exc:  # e.g. {{ 1 / 0 }} or {{ "a" + 1 }} in a user's template
            raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
        return "".join(parts)
