"""The program language: well-formed statements parse to the typed form; hostile input is
rejected with feedback, fast, and nothing in it is ever executed."""

from __future__ import annotations

import builtins
import time

import pytest
from pytod_schema_fixture import dialogue, schema

from tod_lab.pytod.interpreter import DialogueSession
from tod_lab.pytod.program import (
    Assignments,
    AttrRef,
    Call,
    Const,
    Limits,
    Rejected,
    Renumbering,
    SetAttr,
    VarRef,
    parse_program,
    parse_statement,
    render_statement,
)
from tod_lab.pytod.simulator import ApiCatalog, backend_for


def test_reference_statement_forms_parse_to_typed_statements():
    call = parse_statement(
        'x3 = restaurants_2_reserve_restaurant(time="half past 11", number_of_seats=2)'
    )
    assert call == Call(
        "x3",
        "restaurants_2_reserve_restaurant",
        (),
        (("time", Const("half past 11")), ("number_of_seats", Const(2))),
    )
    line = parse_statement('x5: x1.location = "san jose"; x1.restaurant_name = "sino"')
    assert line == Assignments(
        "x5",
        (SetAttr("x1", "location", Const("san jose")),
         SetAttr("x1", "restaurant_name", Const("sino"))),
    )
    say = parse_statement("x14 = say(x1.phone_number, x13)")
    assert say == Call("x14", "say", (AttrRef("x1", "phone_number"), VarRef("x13")))
    select = parse_statement('x8 = select(movie_name="the best of enemies", from_results=x7)')
    assert select.kwarg("from_results") == VarRef("x7")
    assert parse_statement("x2 = f(a=-3, b=True, c=None, d=1.5)").kwargs == (
        ("a", Const(-3)), ("b", Const(True)), ("c", Const(None)), ("d", Const(1.5)))
    # prompts and targets are lower-cased: True / False / None come back in lower case
    assert parse_statement("f(has_wifi=true, b=false, c=none)").kwargs == (
        ("has_wifi", Const(True)), ("b", Const(False)), ("c", Const(None)))
    assert parse_statement("x1.has_live_music = false").items == (SetAttr("x1", "has_live_music", Const(False)),)
    assert isinstance(parse_statement("f(a=yes)"), Rejected)  # other bare names stay variables


def test_statements_split_on_new_token_and_lines_and_pass_means_nothing():
    program = parse_program('x1 = a(b=1) <new> x2 = say(x1)\nx3: x1.c = "d"')
    assert [type(s).__name__ for s in program.statements] == ["Call", "Call", "Assignments"]
    assert parse_program("pass").statements == () and parse_program("pass").ok
    assert parse_program("").statements == ()


@pytest.mark.parametrize(
    "source",
    [
        'x1 = restaurants_2_reserve_restaurant(time="11:30", number_of_seats=2)',
        'x5: x1.location = "san jose"; x1.restaurant_name = "sino\\"s"',
        "x14 = say(x1.phone_number, x13)",
        "say()",
    ],
)
def test_render_round_trips(source):
    stmt = parse_statement(source)
    assert parse_statement(render_statement(stmt)) == stmt


def test_renumbering_shifts_every_variable():
    stmt = parse_statement("x14 = say(x1.phone_number, x13)")
    assert render_statement(stmt, Renumbering(10)) == "x24 = say(x11.phone_number, x23)"


HOSTILE = {
    "import": ("import os", "import"),
    "from import": ("from os import system", "import"),
    "dunder import call": ('x1 = __import__("os").system("ls")', "methods cannot be called"),
    "dunder name call": ('x1 = __import__("os")', "not allowed"),
    "class chain": ("x2 = say(x1.__class__.__mro__)", "attributes may only be taken of a variable"),
    "dunder attribute": ("x2 = say(x1.__class__)", "not allowed"),
    "dunder assignment": ("x1.__dict__ = 1", "not allowed"),
    "subclasses": ("x2 = say(x1.__class__.__base__.__subclasses__)", "attributes may only"),
    "globals via attribute": ("x1.func.__globals__ = 1", "attributes may only"),
    "lambda": ("x1 = f(a=lambda: 1)", "lambda"),
    "list comprehension": ("x1 = f(a=[c for c in x2])", "comprehension"),
    "generator": ("x1 = f(a=(c for c in x2))", "generator"),
    "dict comprehension": ("x1 = f(a={k: 1 for k in x2})", "comprehension"),
    "method call": ('x1.location.upper()', "methods cannot be called"),
    "call of call": ("x1 = f()()", "only tools can be called"),
    "nested call": ("x1 = f(a=g())", "nested call"),
    "string method": ('"abc".upper()', "methods cannot be called"),
    "attribute of constant": ("x1 = say((1).real)", "attributes may only"),
    "attribute of non-variable": ("foo.bar = 1", "not a program variable"),
    "attribute chain target": ("x1.a.b = 1", "attributes may only"),
    "subscript": ('x1 = say(x2["a"])', "indexing"),
    "arithmetic": ('x1 = f(a="a" * 10 ** 9)', "arithmetic"),
    "f-string": ('x1 = f(a=f"{x2}")', "f-string"),
    "walrus": ("x1 = f(a=(y := 3))", "assignment expression"),
    "starred": ("x1 = f(*x2)", "unpacking"),
    "double star": ("x1 = f(**x2)", "unpacking"),
    "bare name value": ("x1 = f(a=os)", "not a program variable"),
    "assign non call": ("x1 = 5", "must assign the result of a tool call"),
    "aliasing": ("x1 = x2", "must assign the result of a tool call"),
    "non variable target": ("os = f()", "not a program variable"),
    "tuple target": ("x1, x2 = f()", "cannot assign"),
    "chained assignment": ("x1 = x2 = f()", "chained"),
    "augmented": ("x1 += 1", "augmented"),
    "def": ("def f(): pass", "function definition"),
    "class": ("class A: pass", "class definition"),
    "for loop": ("for i in x1: pass", "loop"),
    "while loop": ("while True: pass", "loop"),
    "exec": ('exec("import os")', "not a tool"),  # shape ok; the interpreter rejects it
    "eval": ('x1 = eval("1")', "not a tool"),
    "getattr": ('x1 = getattr(x2, "__class__")', "not a tool"),
    "open": ('x1 = open("/tmp/pytod_pwned", "w")', "not a tool"),
    "syntax error": ("x1 = f(", "syntax error"),
    "duplicate keyword": ("x1 = f(a=1, a=2)", "given twice"),
    "underscore keyword": ("x1 = f(_a=1)", "not allowed"),
    "underscore tool": ("x1 = _private()", "not allowed"),
    "bad label": ("x5: int", "a bare name"),
    "comparison": ("x1 = f(a=x2 == 1)", "comparison"),
    "conditional": ("x1 = f(a=1 if x2 else 2)", "conditional"),
    "list literal": ("x1 = f(a=[1, 2])", "list"),
    "del": ("del x1", "del"),
    "raise": ("raise SystemExit", "raise"),
    "semicolon smuggling": ('x1.a = "b"; import os', "import"),
}


def _session():
    d = dialogue()
    catalog = ApiCatalog.from_schema(schema())
    session = DialogueSession(catalog, d, backend_for(d, None))
    session.start_user_turn(0)
    return session


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_statements_are_rejected_with_feedback_and_execute_nothing(name, monkeypatch, tmp_path):
    source, expected = HOSTILE[name]
    calls = []

    def trap(*args, **kwargs):  # exec / eval must never be reached
        calls.append(args)
        raise AssertionError("model output reached exec/eval")

    monkeypatch.setattr(builtins, "exec", trap)
    monkeypatch.setattr(builtins, "eval", trap)
    session = _session()
    before = session.states()
    report = session.execute(source)  # never raises
    monkeypatch.undo()
    feedback = " ".join(r.feedback for r in report.rejected) + " ".join(report.feedback)
    assert report.rejected, f"{name}: accepted {report.accepted}"
    assert expected in feedback, feedback
    assert not report.accepted
    assert session.states() == before
    assert not calls
    assert not (tmp_path / "pytod_pwned").exists()


@pytest.mark.parametrize(
    "name, source, expected",
    [
        ("huge string", 'x1 = f(a="' + "a" * 1_000_000 + '")', "program too long"),
        ("long string in limits", 'x1 = f(a="' + "a" * 1500 + '")', "string literal too long"),
        ("huge int", "x1 = f(a=" + "9" * 1500 + ")", "number too large"),
        ("int beyond str limit", "x1 = f(a=" + "9" * 5000 + ")", "too long"),
        ("big float", "x1 = f(a=1e300)", "out of range"),
        ("deep nesting", "x1 = f(" + "(" * 500 + "1" + ")" * 500 + ")", "nested"),
        ("deep brackets in list", "x1 = f(a=" + "[" * 100 + "]" * 100 + ")", "nested"),
        ("thousands of statements", "\n".join(['x1.a = "b"'] * 5000), "program too long"),
        ("a thousand short statements", "\n".join(["x1.a=1"] * 1000), "too many statements"),
        ("thousands on one line", "; ".join(['x1.a = "b"'] * 3000), "too long"),
        ("many arguments", "x1 = f(" + ", ".join(f"a{i}=1" for i in range(100)) + ")",
         "too many arguments"),
    ],
)
def test_size_limits_reject_quickly(name, source, expected):
    started = time.perf_counter()
    program = parse_program(source)
    elapsed = time.perf_counter() - started
    assert not program.statements
    assert any(expected in r.feedback for r in program.rejected), program.rejected
    assert elapsed < 0.5, f"{name} took {elapsed:.2f}s"
    session = _session()
    report = session.execute(source)
    assert report.rejected and not report.accepted


def test_limits_are_configurable():
    tight = Limits(max_statements=2)
    assert parse_program("x1.a = 1\nx1.b = 2\nx1.c = 3", tight).rejected
    assert parse_program("x1.a = 1\nx1.b = 2", tight).ok


def test_one_bad_line_does_not_reject_the_others():
    program = parse_program('x1 = f(a="b")\nimport os\nx2 = say(x1)')
    assert [type(s).__name__ for s in program.statements] == ["Call", "Call"]
    assert len(program.rejected) == 1 and isinstance(program.rejected[0], Rejected)


def test_parse_never_raises_on_random_garbage():
    import random

    rng = random.Random(0)
    alphabet = 'x1=()[]{}.:;,"\'\\ _abc<>new*%@!#lambda import def 0123456789\n'
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        result = parse_program(text)  # must not raise
        assert isinstance(result.statements, tuple)
        session = _session()
        session.execute(text)  # must not raise either
