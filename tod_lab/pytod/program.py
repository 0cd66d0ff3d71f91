"""The PyTOD program language: model output -> a small typed form, never executed as Python.

A program is a sequence of statements, one per line or separated by the ``<new>`` token the
Action Parser emits. Each statement is parsed with :mod:`ast` and *translated* into the
typed form below; whatever does not fit that form is rejected with a feedback message the
agent can show the model. Nothing here evaluates anything: ``ast.parse`` only builds a
syntax tree, and the tree is walked with a whitelist. Model output is hostile input, so
sizes are bounded *before* parsing (characters, statements, bracket nesting) because the
CPython parser itself can spend time or recurse on adversarial text.

The statement forms (the reference's program format):

    x3 = restaurants_2_reserve_restaurant(time="11:30", number_of_seats=2)   # tool call
    x5: x1.location = "san jose"; x1.restaurant_name = "sino"                # assignments
    x8 = select(movie_name="the best of enemies", from_results=x7)            # tool statement
    x14 = say(x1.phone_number, x13)

Arguments are constants (str, int, float, bool, None), variables (``x7``) or attributes of
variables (``x7.movie_name``). Whether a called name is a tool and whether an attribute
belongs to the schema is the interpreter's business (it knows the schema); this module only
guarantees the *shape*.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

NEW_STATEMENT = "<new>"  # the added special token separating statements in AP targets
VARIABLE_RE = re.compile(r"^x(\d{1,6})$")
# Prompts and targets are lower-cased (as in the reference), so a model trained on them
# writes `has_wifi=true`: Python's constants in lower case are values, never variables
LOWERCASE_CONSTANTS = {"true": True, "false": False, "none": None}
# "x5: x1.a = 1; x1.b = 2" -- a label in front of a line of attribute assignments. Python
# would read it as an annotated assignment, so the label is taken off before parsing.
LABEL_RE = re.compile(r"^\s*(x\d{1,6})\s*:(?!=)\s*(?=\S)")

ConstValue = str | int | float | bool | None


# --------------------------------------------------------------------------- typed form


@dataclass(frozen=True, slots=True)
class Const:
    value: ConstValue


@dataclass(frozen=True, slots=True)
class VarRef:
    name: str


@dataclass(frozen=True, slots=True)
class AttrRef:
    var: str
    attr: str


Expr = Const | VarRef | AttrRef


@dataclass(frozen=True, slots=True)
class Call:
    """``target = func(*args, **kwargs)`` (``target`` is None for a bare call)."""

    target: str | None
    func: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr], ...] = ()

    def kwarg(self, name: str) -> Expr | None:
        for key, value in self.kwargs:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class SetAttr:
    var: str
    attr: str
    value: Expr


@dataclass(frozen=True, slots=True)
class Assignments:
    """One line of attribute assignments, optionally labelled (``x5: ...``)."""

    label: str | None
    items: tuple[SetAttr, ...]


Statement = Call | Assignments


@dataclass(frozen=True, slots=True)
class Rejected:
    """A statement that was not accepted, and why (shown to the model as feedback)."""

    source: str
    feedback: str


@dataclass(frozen=True)
class ParsedProgram:
    statements: tuple[Statement, ...]
    rejected: tuple[Rejected, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.rejected


@dataclass(frozen=True)
class Limits:
    """Bounds on the work one program may cause (per user turn)."""

    max_program_chars: int = 8000
    max_statements: int = 64
    max_line_chars: int = 2000
    max_string_chars: int = 400
    max_arguments: int = 40
    max_assignments_per_line: int = 40
    max_bracket_depth: int = 4  # f(x) is depth 1; the language never needs more than 1
    max_number_digits: int = 12


DEFAULT_LIMITS = Limits()


class ProgramRejection(Exception):
    """Internal: raised while translating one statement; always caught in this module."""


# --------------------------------------------------------------------------- parsing


def split_statements(text: str) -> list[str]:
    """Statements of a program: lines, and parts separated by ``<new>``; blanks dropped."""
    parts: list[str] = []
    for line in text.replace(NEW_STATEMENT, "\n").splitlines():
        if line.strip():
            parts.append(line.strip())
    return parts


def parse_program(text: str, limits: Limits = DEFAULT_LIMITS) -> ParsedProgram:
    """Parse every statement of ``text``; bad statements are rejected, the rest kept.

    Never raises: every problem becomes a :class:`Rejected` entry with feedback.
    """
    if not isinstance(text, str):
        return ParsedProgram((), (Rejected(repr(text)[:80], "a program must be text"),))
    if len(text) > limits.max_program_chars:
        return ParsedProgram(
            (),
            (
                Rejected(
                    text[:80] + "...",
                    f"program too long ({len(text)} characters, at most "
                    f"{limits.max_program_chars}); write only the new statements",
                ),
            ),
        )
    lines = split_statements(text)
    if len(lines) > limits.max_statements:
        return ParsedProgram(
            (),
            (
                Rejected(
                    lines[0][:80] + "...",
                    f"too many statements ({len(lines)}, at most {limits.max_statements})",
                ),
            ),
        )
    statements: list[Statement] = []
    rejected: list[Rejected] = []
    for line in lines:
        result = parse_line(line, limits)
        if isinstance(result, Rejected):
            rejected.append(result)
        else:
            statements.extend(result)
    return ParsedProgram(tuple(statements), tuple(rejected))


def parse_line(line: str, limits: Limits = DEFAULT_LIMITS) -> list[Statement] | Rejected:
    """One line -> its statements (a line may hold several, joined by ``;``)."""
    try:
        return _parse_line(line, limits)
    except ProgramRejection as err:
        return Rejected(line if len(line) <= 200 else line[:200] + "...", str(err))
    except Exception as err:  # noqa: BLE001 - hostile input must never escape as an exception
        return Rejected(line[:200], f"cannot parse statement ({type(err).__name__})")


def parse_statement(line: str, limits: Limits = DEFAULT_LIMITS) -> Statement | Rejected:
    """Exactly one statement (used by tests and the checker)."""
    result = parse_line(line, limits)
    if isinstance(result, Rejected):
        return result
    if len(result) != 1:
        return Rejected(line[:200], f"expected one statement, found {len(result)}")
    return result[0]


def _parse_line(line: str, limits: Limits) -> list[Statement]:
    if len(line) > limits.max_line_chars:
        raise ProgramRejection(
            f"statement too long ({len(line)} characters, at most {limits.max_line_chars})"
        )
    depth = _max_bracket_depth(line)
    if depth > limits.max_bracket_depth:
        raise ProgramRejection(
            f"brackets nested {depth} deep (at most {limits.max_bracket_depth}); "
            "arguments must be constants, variables or variable.attribute"
        )
    label = None
    match = LABEL_RE.match(line)
    body = line
    if match:
        label = match.group(1)
        body = line[match.end() :]
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" etc. are not our output
            warnings.simplefilter("ignore")
            tree = ast.parse(body, mode="exec")
    except SyntaxError as err:
        raise ProgramRejection(f"syntax error: {err.msg}") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as err:
        raise ProgramRejection(f"cannot parse statement ({type(err).__name__})") from None
    if not tree.body:
        raise ProgramRejection("empty statement")
    if all(isinstance(node, ast.Pass) for node in tree.body) and label is not None:
        raise ProgramRejection("a label needs assignments after it")
    out: list[Statement] = []
    pending: list[SetAttr] = []
    for node in tree.body:
        if isinstance(node, ast.Pass):  # "pass": the model's way to say "no new statement"
            continue
        stmt = _statement(node, limits)
        if isinstance(stmt, SetAttr):
            pending.append(stmt)
            if len(pending) > limits.max_assignments_per_line:
                raise ProgramRejection(
                    f"too many assignments on one line (at most "
                    f"{limits.max_assignments_per_line})"
                )
            continue
        if pending:
            out.append(Assignments(label, tuple(pending)))
            label, pending = None, []
        if label is not None:
            raise ProgramRejection(
                f"label '{label}:' only goes in front of attribute assignments; "
                f"write '{label} = {stmt.func}(...)'"
            )
        out.append(stmt)
    if pending:
        out.append(Assignments(label, tuple(pending)))
    return out


def _max_bracket_depth(text: str) -> int:
    """Deepest (), [], {} nesting outside string literals (checked before ``ast.parse``)."""
    depth = deepest = 0
    quote: str | None = None
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return deepest


def _node_name(node: ast.AST) -> str:
    return type(node).__name__


def _statement(node: ast.stmt, limits: Limits) -> Call | SetAttr:
    if isinstance(node, ast.Assign):
        if len(node.targets) != 1:
            raise ProgramRejection("chained assignment (a = b = ...) is not allowed")
        target = node.targets[0]
        if isinstance(target, ast.Name):
            name = _variable(target.id)
            if not isinstance(node.value, ast.Call):
                raise ProgramRejection(
                    f"'{name} = ...' must assign the result of a tool call, "
                    f"not {_describe(node.value)}"
                )
            return _call(node.value, name, limits)
        if isinstance(target, ast.Attribute):
            var, attr = _attribute(target)
            return SetAttr(var, attr, _expr(node.value, limits))
        raise ProgramRejection(f"cannot assign to {_describe(target)}")
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return _call(node.value, None, limits)
    raise ProgramRejection(f"{_describe(node)} is not allowed; {_ALLOWED}")


_ALLOWED = (
    "write tool calls (x3 = tool(slot=\"value\")), attribute assignments "
    "(x3.slot = \"value\") or tool statements such as say(...)"
)

_DESCRIPTIONS = {
    "Import": "an import",
    "ImportFrom": "an import",
    "Lambda": "a lambda",
    "ListComp": "a comprehension",
    "SetComp": "a comprehension",
    "DictComp": "a comprehension",
    "GeneratorExp": "a generator expression",
    "FunctionDef": "a function definition",
    "AsyncFunctionDef": "a function definition",
    "ClassDef": "a class definition",
    "Subscript": "indexing",
    "BinOp": "an arithmetic expression",
    "BoolOp": "a boolean expression",
    "Compare": "a comparison",
    "JoinedStr": "an f-string",
    "NamedExpr": "an assignment expression",
    "Starred": "argument unpacking",
    "AugAssign": "an augmented assignment",
    "AnnAssign": "an annotated assignment",
    "Delete": "del",
    "Global": "global",
    "Nonlocal": "nonlocal",
    "For": "a loop",
    "While": "a loop",
    "If": "an if statement",
    "With": "a with statement",
    "Try": "a try statement",
    "Raise": "raise",
    "Return": "return",
    "Assert": "assert",
    "Await": "await",
    "Yield": "yield",
    "IfExp": "a conditional expression",
    "List": "a list",
    "Tuple": "a tuple",
    "Dict": "a dict",
    "Set": "a set",
    "Call": "a nested call",
    "Attribute": "an attribute expression",
    "Name": "a bare name",
    "Constant": "a bare constant",
    "UnaryOp": "an arithmetic expression",
}


def _describe(node: ast.AST) -> str:
    name = _node_name(node)
    if isinstance(node, ast.Expr):
        return _describe(node.value)
    return _DESCRIPTIONS.get(name, f"a {name} construct")


def _variable(name: str) -> str:
    if not VARIABLE_RE.match(name):
        raise ProgramRejection(
            f"'{name}' is not a program variable; variables are x1, x2, ..."
        )
    return name


def _identifier(name: str, what: str) -> str:
    if name.startswith("_"):
        raise ProgramRejection(f"{what} '{name}' is not allowed (names may not start with '_')")
    return name


def _attribute(node: ast.Attribute) -> tuple[str, str]:
    if not isinstance(node.value, ast.Name):
        raise ProgramRejection(
            "attributes may only be taken of a variable (x3.slot), not of "
            f"{_describe(node.value)}"
        )
    var = _variable(node.value.id)
    return var, _identifier(node.attr, "attribute")


def _call(node: ast.Call, target: str | None, limits: Limits) -> Call:
    if not isinstance(node.func, ast.Name):
        raise ProgramRejection(
            f"only tools can be called, by name (tool(...)); not {_describe(node.func)}"
            if not isinstance(node.func, ast.Attribute)
            else "methods cannot be called; call a tool by name: tool(...)"
        )
    func = _identifier(node.func.id, "tool")
    if len(node.args) + len(node.keywords) > limits.max_arguments:
        raise ProgramRejection(f"too many arguments (at most {limits.max_arguments})")
    args = tuple(_expr(a, limits) for a in node.args)
    kwargs: list[tuple[str, Expr]] = []
    seen: set[str] = set()
    for kw in node.keywords:
        if kw.arg is None:
            raise ProgramRejection("argument unpacking (**) is not allowed")
        name = _identifier(kw.arg, "argument")
        if name in seen:
            raise ProgramRejection(f"argument '{name}' given twice")
        seen.add(name)
        kwargs.append((name, _expr(kw.value, limits)))
    return Call(target, func, args, tuple(kwargs))


def _expr(node: ast.expr, limits: Limits) -> Expr:
    if isinstance(node, ast.Constant):
        return Const(_constant(node.value, limits))
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        return Const(-_constant(node.operand.value, limits))  # type: ignore[operator]
    if isinstance(node, ast.Name):
        if node.id in LOWERCASE_CONSTANTS:
            return Const(LOWERCASE_CONSTANTS[node.id])
        return VarRef(_variable(node.id))
    if isinstance(node, ast.Attribute):
        var, attr = _attribute(node)
        return AttrRef(var, attr)
    raise ProgramRejection(
        f"{_describe(node)} is not allowed as a value; use a constant, a variable or "
        "variable.attribute"
    )


def _constant(value: object, limits: Limits) -> ConstValue:
    if value is None or isinstance(value, bool):
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        if len(value) > limits.max_string_chars:
            raise ProgramRejection(
                f"string literal too long ({len(value)} characters, at most "
                f"{limits.max_string_chars})"
            )
        return value
    if isinstance(value, int):
        if len(str(abs(value))) > limits.max_number_digits:
            raise ProgramRejection(
                f"number too large (at most {limits.max_number_digits} digits)"
            )
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or abs(value) > 1e12:
            raise ProgramRejection("number out of range")
        return value
    raise ProgramRejection(f"constant of type {type(value).__name__} is not allowed")


# --------------------------------------------------------------------------- rendering


def render_value(value: ConstValue, spaced: bool = False) -> str:
    """A constant as Python source (strings double-quoted, JSON escapes are valid Python).

    ``spaced`` writes ``" san jose "``: the runtime strips values, and a tokenizer that only
    splits on whitespace then sees the same word pieces as in the utterance (copyable).
    """
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return f'" {text[1:-1]} "' if spaced and value.strip() else text
    if value is None or isinstance(value, bool):
        return repr(value)
    return repr(value)


def render_expr(
    expr: Expr, rename: Callable[[str], str] | None = None, spaced: bool = False
) -> str:
    r = rename or (lambda v: v)
    if isinstance(expr, Const):
        return render_value(expr.value, spaced)
    if isinstance(expr, VarRef):
        return r(expr.name)
    return f"{r(expr.var)}.{expr.attr}"


def render_statement(
    stmt: Statement, rename: Callable[[str], str] | None = None, spaced: bool = False
) -> str:
    """Canonical source of a statement; ``rename`` maps variable names (x3 -> x17)."""
    r = rename or (lambda v: v)
    if isinstance(stmt, Call):
        parts = [render_expr(a, rename, spaced) for a in stmt.args]
        parts += [f"{k}={render_expr(v, rename, spaced)}" for k, v in stmt.kwargs]
        call = f"{stmt.func}({', '.join(parts)})"
        return f"{r(stmt.target)} = {call}" if stmt.target else call
    body = "; ".join(
        f"{r(item.var)}.{item.attr} = {render_expr(item.value, rename, spaced)}"
        for item in stmt.items
    )
    return f"{r(stmt.label)}: {body}" if stmt.label else body


def render_program(statements: Iterable[Statement], separator: str = f" {NEW_STATEMENT} ") -> str:
    return separator.join(render_statement(s) for s in statements)


def statement_variables(stmt: Statement) -> list[str]:
    """Every variable a statement binds or mentions (for renumbering)."""
    names: list[str] = []

    def add_expr(e: Expr) -> None:
        if isinstance(e, VarRef):
            names.append(e.name)
        elif isinstance(e, AttrRef):
            names.append(e.var)

    if isinstance(stmt, Call):
        if stmt.target:
            names.append(stmt.target)
        for a in stmt.args:
            add_expr(a)
        for _, v in stmt.kwargs:
            add_expr(v)
    else:
        if stmt.label:
            names.append(stmt.label)
        for item in stmt.items:
            names.append(item.var)
            add_expr(item.value)
    return names


def variable_index(name: str) -> int | None:
    match = VARIABLE_RE.match(name)
    return int(match.group(1)) if match else None


@dataclass
class Renumbering:
    """Shift every variable index by ``offset`` (training prompts randomise the start)."""

    offset: int = 0
    _cache: dict[str, str] = field(default_factory=dict)

    def __call__(self, name: str) -> str:
        if not self.offset:
            return name
        if name not in self._cache:
            index = variable_index(name)
            self._cache[name] = name if index is None else f"x{index + self.offset}"
        return self._cache[name]
