"""Templates rendered in Jinja2's immutable sandbox, with size, step and time limits.

The sandbox blocks attribute tricks (``''.__class__.__mro__``) but bounds no resources, so
this module adds the bounds, each reported as a :class:`TemplateProblem`:

* the source is at most ``MAX_SOURCE_CHARS``; the output at most ``MAX_OUTPUT_CHARS``;
* no value a template builds grows past ``MAX_OUTPUT_CHARS`` — every operation that can
  multiply a size (``*``, ``+``, ``~``, ``%``, ``str.format``, padding and joining methods,
  filters, captured blocks and macro bodies) is checked *before* it allocates;
* loops run at most ``MAX_ITERATIONS`` times per render in total, a ``range`` has at most
  ``MAX_RANGE`` items, macros nest at most ``MAX_CALL_DEPTH`` deep, and a render stops
  after ``MAX_RENDER_SECONDS`` (checked at every iteration, call and filter).
"""

from __future__ import annotations

import inspect
import operator
import re
import string
import time
from collections.abc import ItemsView, KeysView, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any, Callable, Iterable, Mapping

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

MAX_SOURCE_CHARS = 100_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_RENDER_SECONDS = 2.0
MAX_RANGE = 10_000
MAX_ITERATIONS = 100_000
MAX_CALL_DEPTH = 50
MAX_INT_BITS = 10_000
LOOP_GUARD = "_drumbeat_loop"


class TemplateProblem(ValueError):
    """A template cannot be compiled or rendered; ``line`` is set for syntax errors."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


class LimitExceeded(SecurityError):
    """A template went past one of the resource limits."""


class _Budget:
    """What one render may still spend (one per render, in a context variable)."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.iterations = 0
        self.depth = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering took longer than {MAX_RENDER_SECONDS} s")


_budget: ContextVar[_Budget | None] = ContextVar("drumbeat_template_budget", default=None)


def _current() -> _Budget:
    return _budget.get() or _Budget()  # outside TemplateRenderer.render: a fresh one


def _text_size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Roughly how long ``str(value)`` is; stops counting once past ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 2
        elif isinstance(item, (list, tuple, set, frozenset, KeysView, ValuesView)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, (dict, ItemsView)):
            pairs = item.items() if isinstance(item, dict) else item
            total += 2 + 4 * len(pairs)
            for key, val in pairs:
                stack += (key, val)
        elif isinstance(item, Namespace):
            stack.append(item._Namespace__attrs)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2
        else:
            total += 24
    return total


def _check_size(size: int, what: str = "a value") -> None:
    if size > MAX_OUTPUT_CHARS:
        raise LimitExceeded(f"{what} would be longer than {MAX_OUTPUT_CHARS} characters")


def _sized(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple, dict)):
        _check_size(_text_size(value))
    return value


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")


def _check_printf(fmt: str, args: Any) -> None:
    specs = _PRINTF_SPEC.findall(fmt)
    for width, precision in specs:
        if "*" in (width, precision):
            raise LimitExceeded("'*' widths are not supported")
        if any(n and int(n) > MAX_OUTPUT_CHARS for n in (width, precision)):
            raise LimitExceeded(f"a width above {MAX_OUTPUT_CHARS}")
    _check_size(len(fmt) + len(specs) * _text_size(args), "the formatted text")


def _check_str_format(fmt: str, args: tuple, kwargs: dict) -> None:
    fields = 0
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is None:
            continue
        fields += 1
        numbers = re.findall(r"\d+", spec or "")
        if "{" in (spec or "") or any(int(n) > MAX_OUTPUT_CHARS for n in numbers):
            raise LimitExceeded(f"format widths must be literal numbers up to {MAX_OUTPUT_CHARS}")
    _check_size(len(fmt) + fields * _text_size((args, kwargs)), "the formatted text")


def _check_int_arg(value: Any, name: str, limit: int = MAX_OUTPUT_CHARS) -> None:
    if isinstance(value, int) and abs(value) > limit:
        raise LimitExceeded(f"{name} may be at most {limit}")


def _count(items: Any) -> int:
    """How many items (an unsized iterable counts as a full range)."""
    return len(items) if hasattr(items, "__len__") else MAX_RANGE


# Methods of str/bytes that can return much more than they get, with a size estimate.
_METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "center": lambda s, width=0, *_: _check_int_arg(width, "a width"),
    "ljust": lambda s, width=0, *_: _check_int_arg(width, "a width"),
    "rjust": lambda s, width=0, *_: _check_int_arg(width, "a width"),
    "zfill": lambda s, width=0: _check_int_arg(width, "a width"),
    "expandtabs": lambda s, tabsize=8: _check_size(len(s) + s.count("\t") * max(tabsize, 0)),
    "replace": lambda s, old, new, count=-1: _check_size(
        len(s) + (len(s) + 1 if not old else s.count(old)) * len(new)),
    "join": lambda s, items: _check_size(_text_size(items) + len(s) * _count(items)),
    "translate": lambda s, table: _check_size(len(s) * max(
        [_text_size(v) for v in table.values()] if isinstance(table, dict) else [1])),
}


# Filters that can return much more than they get: checks over their bound arguments.
def _filter_checks() -> dict[str, Callable[[Mapping[str, Any]], None]]:
    def lines(a):
        return str(a.get("s", "")).count("\n") + 1

    return {
        "center": lambda a: _check_int_arg(a["width"], "a width"),
        "indent": lambda a: _check_size(_text_size(a["s"]) + lines(a) * (
            len(a["width"]) if isinstance(a["width"], str) else max(a["width"], 0))),
        "wordwrap": lambda a: _check_size(_text_size(a["s"]) * (1 + len(a["wrapstring"] or "\n"))
                                          // max(a["width"], 1) + _text_size(a["s"])),
        "format": lambda a: _check_printf(str(a["value"]), (a["args"], a["kwargs"])),
        "replace": lambda a: _METHOD_CHECKS["replace"](str(a["s"]), str(a["old"]), str(a["new"])),
        "join": lambda a: _check_size(_text_size(a["value"]) + len(str(a["d"])) * _count(a["value"])),
        "batch": lambda a: _check_int_arg(a["linecount"], "a batch size"),
        "slice": lambda a: _check_int_arg(a["slices"], "slices", MAX_RANGE),
        "tojson": lambda a: _check_int_arg(a["indent"] or 0, "indent", 16),
        "urlize": lambda a: _check_size(_text_size(a["value"]) * (
            1 + len(a["target"] or "") + len(a["rel"] or ""))),
    }


_PASSED = ("eval_ctx", "environment", "context")


def _guard_filter(name: str, function: Callable, check: Callable | None) -> Callable:
    """Wrap a filter: its value's size, its own estimate, its result's size, the clock."""
    skip = 1 if hasattr(function, "jinja_pass_arg") else 0
    signature = inspect.signature(function) if check else None
    # Jinja's async-aware filters take an eval context their signature does not show.
    bind_from = skip if signature and next(iter(signature.parameters)) not in _PASSED else 0

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _current().tick()
        if len(args) > skip:
            _sized(args[skip])
        if signature is not None:
            bound = signature.bind(*args[bind_from:], **kwargs)
            bound.apply_defaults()
            check(bound.arguments)
        return _sized(function(*args, **kwargs))

    return guarded


def _loop(iterable: Iterable) -> Iterable:
    """Every loop iterates through this: it counts the iterations and watches the clock."""
    budget = _current()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > MAX_ITERATIONS:
            raise LimitExceeded(f"loops may run at most {MAX_ITERATIONS} times in total")
        budget.tick()
        yield item


class _GuardedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        """``a ~ b``: sizes checked before joining."""
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), ")
        if frame.eval_ctx.volatile:
            self.write("(markup_join if context.eval_ctx.volatile else str_join))")
        else:
            self.write("markup_join)" if frame.eval_ctx.autoescape else "str_join)")


class _LimitedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+", "%"])
    code_generator_class = _GuardedCodeGenerator

    @staticmethod
    def concat(parts: Iterable[str]) -> str:
        """Joins captured blocks and macro bodies (their parts are already text)."""
        parts = list(parts)
        _check_size(sum(len(p) for p in parts), "a block")
        return "".join(parts)

    @staticmethod
    def guarded_concat(parts: tuple, join: Callable) -> str:
        _current().tick()
        _check_size(sum(_text_size(p) for p in parts), "the joined text")
        return join(parts)

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(attr, str) and attr.startswith("_"):
                raise TemplateSyntaxError(f"access to {attr!r} is not allowed", node.lineno,
                                          name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_GUARD, [], [], None, None,
                                     lineno=loop.lineno)
        return tree

    def unsafe_undefined(self, obj: Any, attribute: str):
        raise SecurityError(f"access to {attribute!r} of a {type(obj).__name__} is not allowed")

    def call_binop(self, context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
                    _check_size(len(seq) * times, "the result of this repetition")
            if isinstance(left, int) and isinstance(right, int):
                self._check_bits(left.bit_length() + right.bit_length())
            return operator.mul(left, right)
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise LimitExceeded("the exponent is too large")
            if isinstance(left, int) and isinstance(right, int):
                self._check_bits(left.bit_length() * abs(right))
            return operator.pow(left, right)
        if operator_name == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
                _check_size(len(left) + len(right), "the sum")
            return operator.add(left, right)
        if operator_name == "%" and isinstance(left, str):
            _check_printf(left, right)
            return _sized(operator.mod(left, right))
        return super().call_binop(context, operator_name, left, right)

    @staticmethod
    def _check_bits(bits: int) -> None:
        if bits > MAX_INT_BITS:
            raise LimitExceeded("the number would be too large")

    def wrap_str_format(self, value: Any):
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template = value.__self__

        @wraps(wrapper)
        def checked(*args: Any, **kwargs: Any) -> str:
            if value.__name__ == "format":
                _check_str_format(template, args, kwargs)
            else:
                _check_str_format(template, (), args[0] if args else {})
            return _sized(wrapper(*args, **kwargs))

        return checked

    def call(__self, __context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = _current()
        budget.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, bytes)) and getattr(__obj, "__name__", "") in _METHOD_CHECKS:
            _METHOD_CHECKS[__obj.__name__](owner, *args, **kwargs)
        if isinstance(__obj, LoopContext) and args:  # loop(children) of a recursive loop
            args = (_loop(args[0]), *args[1:])
        if not isinstance(__obj, Macro):
            return _sized(super().call(__context, __obj, *args, **kwargs))
        budget.depth += 1
        try:
            if budget.depth > MAX_CALL_DEPTH:
                raise LimitExceeded(f"macros may nest at most {MAX_CALL_DEPTH} deep")
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise LimitExceeded(f"a range may have at most {MAX_RANGE} items")
    return rng


def _finalize(value: Any) -> Any:
    """Every ``{{ … }}`` passes here before it becomes text. A function or method printed
    without being called (``{{ name.upper }}``) would show its Python repr — internals, and
    never what the author meant — so it is a problem, with the fix in the message."""
    if callable(value) and not isinstance(value, Undefined):
        raise TemplateProblem("a function or method is not a value: call it with () "
                              "(e.g. {{ name.upper() }}) or remove it")
    return _sized(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        return None
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


@dataclass(frozen=True)
class TemplateRenderer:
    """Compiles and renders templates; one per process, shared by every action."""

    filters: Mapping[str, Callable] | None = None

    def __post_init__(self) -> None:
        envs = {}
        checks = _filter_checks()
        for autoescape in (False, True):
            env = _LimitedSandbox(autoescape=autoescape, undefined=ChainableUndefined,
                                  finalize=_finalize)
            env.globals.pop("lipsum", None)
            # ``tojson`` of a missing value gives null, as every other use of one gives "".
            env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
            env.globals["range"] = _safe_range
            env.filters.update(self.filters or {})
            env.filters = {name: _guard_filter(name, f, checks.get(name))
                           for name, f in env.filters.items()}
            env.filters[LOOP_GUARD] = _loop
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
        except (RecursionError, MemoryError, SyntaxError):
            raise TemplateProblem("the template is nested too deeply") from None

    def check(self, source: str, html: bool = False) -> None:
        """Raise :class:`TemplateProblem` (with the line) when ``source`` does not compile."""
        self._compile(source, html)

    def render(self, source: str, context: Mapping[str, Any], html: bool = False) -> str:
        template = self._compile(source, html)
        token = _budget.set(_Budget())
        parts: list[str] = []
        size = 0
        try:
            for part in template.generate(**context):
                size += len(part)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateProblem(f"the output is longer than {MAX_OUTPUT_CHARS} characters")
                _current().tick()
                parts.append(part)
        except TemplateProblem:
            raise
        except (SecurityError, TemplateError) as exc:
            raise TemplateProblem(str(exc)) from None
        except RecursionError:
            raise TemplateProblem("the template recursed too deeply") from None
        except Exception as exc:  # e.g. {{ 1 / 0 }} or {{ "a" + 1 }} in a user's template
            raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
        finally:
            _budget.reset(token)
        return "".join(parts)
