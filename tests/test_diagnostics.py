"""Golden tests of diagnostics: the exact rendered text, caret included, for each error kind.

Every expected text below was written by hand from the source line: columns are 1-based
and count code points; the caret covers the offending span on its first line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import modc.loader
from modc import limits
from modc.diagnostics import CODES, Diagnostic, Severity, error
from modc.loader import MAX_SOURCE_BYTES
from modc.parser import MAX_BRACKET_DEPTH, MAX_EXPR_DEPTH, MAX_SOURCE_CHARS
from modc.pipeline import compile_source


def rendered(text: str, path: str = "net.mod", **kwargs) -> str:
    result = compile_source(path, text=text, **kwargs)
    assert not result.ok
    return "\n".join(d.render() for d in sorted(result.diagnostics, key=Diagnostic.sort_key))


def lines(*parts: str) -> str:
    return "\n".join(parts)


# --- the format itself -------------------------------------------------------------------


def test_render_format_with_hint_and_notes(compile_text) -> None:
    source = compile_text("let a = 1\n").program.sources[0]
    d = Diagnostic(Severity.WARNING, "W001", "a message", source.span(4, 5), hint="a hint",
                   notes=["one", "two"])
    assert d.render() == lines(
        "net.mod:1:5: warning: a message [W001]",
        "    1 | let a = 1",
        "      |     ^",
        "     = hint: a hint",
        "     = note: one",
        "     = note: two",
    )
    assert d.render(context=False) == lines(
        "net.mod:1:5: warning: a message [W001]",
        "     = hint: a hint",
        "     = note: one",
        "     = note: two",
    )


def test_gutter_widens_with_the_line_number() -> None:
    text = "\n" * 11 + "let a = b\n"
    assert rendered(text) == lines(
        "net.mod:12:9: error: unknown name 'b' [E201]",
        "    12 | let a = b",
        "       |         ^",
    )


def test_diagnostic_without_position() -> None:
    d = error("E207", "-D x: no param named 'x'", None, hint="the file has no params")
    assert d.diagnostic.render() == lines(
        "modc: error: -D x: no param named 'x' [E207]",
        "  = hint: the file has no params",
    )


def test_control_characters_never_reach_the_terminal() -> None:
    assert rendered("let a = 3 \x1b[2J\n") == lines(
        "net.mod:1:11: error: invalid character U+001B [E103]",
        "    1 | let a = 3 \ufffd[2J",
        "      |           ^",
    )


def test_tabs_render_as_one_space_so_the_caret_stays_aligned() -> None:
    assert rendered("let a =\tb\n") == lines(
        "net.mod:1:9: error: unknown name 'b' [E201]",
        "    1 | let a = b",
        "      |         ^",
    )


def test_every_code_has_a_description() -> None:
    assert all(code[0] in "E" and len(code) == 4 and text for code, text in CODES.items())


# --- syntax ------------------------------------------------------------------------------


def test_missing_operand_at_end_of_line() -> None:
    assert rendered("net N = Linear(3, 4) @\n") == lines(
        "net.mod:1:23: error: expected an expression before the end of the line [E100]",
        "    1 | net N = Linear(3, 4) @",
        "      |                       ^",
    )


def test_missing_operand_before_an_operator() -> None:
    assert rendered("let a = * 3\n") == lines(
        "net.mod:1:9: error: missing operand before '*' [E100]",
        "    1 | let a = * 3",
        "      |         ^",
    )


def test_unclosed_bracket_at_end_of_file() -> None:
    assert rendered("let a = 2\nnet N = (Linear(3, 4)\n\n") == lines(
        "net.mod:2:9: error: '(' is never closed [E102]",
        "    2 | net N = (Linear(3, 4)",
        "      |         ^",
    )


@pytest.mark.parametrize("second", ["let b = 1", "net M = ReLU"])
def test_unclosed_bracket_before_the_next_statement(second: str) -> None:
    # Inside brackets newlines are dropped, so the next keyword would otherwise be the error.
    assert rendered(f"let a = 2\nnet N = Linear(3,\n\n{second}\n") == lines(
        "net.mod:2:15: error: '(' is never closed [E102]",
        "    2 | net N = Linear(3,",
        "      |               ^",
        "     = hint: a new statement starts on line 4",
    )


def test_unmatched_closing_bracket() -> None:
    assert rendered("net N = Linear(3, 4))\n") == lines(
        "net.mod:1:21: error: unmatched ')' [E102]",
        "    1 | net N = Linear(3, 4))",
        "      |                     ^",
        "     = hint: remove it, or add the opening bracket it closes",
    )


def test_mismatched_bracket_names_the_open_one() -> None:
    assert rendered("let t = (1,\n  2]\n") == lines(
        "net.mod:2:4: error: unmatched ']' [E102]",
        "    2 |   2]",
        "      |    ^",
        "     = hint: the innermost open bracket is '(' on line 1",
    )


def test_invalid_character() -> None:
    assert rendered("let a = 3 $ 4\n") == lines(
        "net.mod:1:11: error: invalid character '$' [E103]",
        "    1 | let a = 3 $ 4",
        "      |           ^",
    )


def test_unterminated_string() -> None:
    assert rendered('import "blocks.mod\n') == lines(
        "net.mod:1:8: error: unterminated string [E100]",
        '    1 | import "blocks.mod',
        "      |        ^",
        '     = hint: a file name is written "name.mod" on one line',
    )


def test_two_statements_on_one_line() -> None:
    assert rendered("let a = 1 let b = 2\n") == lines(
        "net.mod:1:11: error: unexpected keyword 'let'; expected an operator or the end of "
        "the line [E100]",
        "    1 | let a = 1 let b = 2",
        "      |           ^^^",
        "     = hint: statements start at the beginning of a line",
    )


def test_missing_operator() -> None:
    assert rendered("net N = Linear(3, 4) ReLU\n") == lines(
        "net.mod:1:22: error: unexpected name 'ReLU': missing operator, or two statements on "
        "one line [E100]",
        "    1 | net N = Linear(3, 4) ReLU",
        "      |                      ^^^^",
    )


def test_keyword_used_as_a_name() -> None:
    assert rendered("let net = 3\n") == lines(
        "net.mod:1:5: error: 'net' is a keyword and cannot be used as a name [E100]",
        "    1 | let net = 3",
        "      |     ^^^",
        "     = hint: choose another name",
    )


def test_keyword_missing_its_name() -> None:
    assert rendered("net = Linear(3, 4)\n") == lines(
        "net.mod:1:5: error: unexpected '='; expected a name [E100]",
        "    1 | net = Linear(3, 4)",
        "      |     ^",
    )


def test_statement_without_keyword() -> None:
    assert rendered("width = 3\n") == lines(
        "net.mod:1:1: error: unexpected name 'width': missing operator, or two statements on "
        "one line [E100]",
        "    1 | width = 3",
        "      | ^^^^^",
    )


def test_string_outside_import() -> None:
    assert rendered('let a = "s"\n') == lines(
        "net.mod:1:9: error: unexpected string \"s\"; expected '(' or '+' or '-' or a name or "
        "a number [E100]",
        '    1 | let a = "s"',
        "      |         ^^^",
        '     = hint: strings only name files: import "file.mod"',
    )


def test_keyword_argument_outside_a_call() -> None:
    assert rendered("let a = 3 = 4\n") == lines(
        "net.mod:1:11: error: unexpected '='; expected an operator or the end of the line "
        "[E100]",
        "    1 | let a = 3 = 4",
        "      |           ^",
        "     = hint: keyword arguments are written name=value inside a call",
    )


def test_positional_after_keyword() -> None:
    assert rendered("net N = Linear(mass=2, 3, 4)\n") == lines(
        "net.mod:1:24: error: positional argument after a keyword argument [E100]",
        "    1 | net N = Linear(mass=2, 3, 4)",
        "      |                        ^",
    )


def test_lone_carriage_return() -> None:
    assert rendered("let a = 3\rlet b = 4\n") == lines(
        "net.mod:1:10: error: invalid character U+000D [E103]",
        "    1 | let a = 3\ufffdlet b = 4",
        "      |          ^",
        "     = hint: end lines with \\n or \\r\\n",
    )


# --- names and calls ---------------------------------------------------------------------


def test_unknown_name_with_suggestion() -> None:
    assert rendered("net N = Relu @ Linear(3, 4)\n") == lines(
        "net.mod:1:9: error: unknown name 'Relu' [E201]",
        "    1 | net N = Relu @ Linear(3, 4)",
        "      |         ^^^^",
        "     = hint: did you mean 'ReLU'?",
    )


def test_unknown_name_suggests_a_user_param() -> None:
    assert rendered("param width = 8\nnet N = Linear(widht, 3)\n") == lines(
        "net.mod:2:16: error: unknown name 'widht' [E201]",
        "    2 | net N = Linear(widht, 3)",
        "      |                ^^^^^",
        "     = hint: did you mean 'width'?",
    )


def test_missing_argument() -> None:
    assert rendered("net N = Linear(3)\n") == lines(
        "net.mod:1:9: error: Linear is missing argument 'in' [E202]",
        "    1 | net N = Linear(3)",
        "      |         ^^^^^^^^^",
        "     = hint: the signature is Linear(out, in, mass)",
    )


def test_too_many_arguments() -> None:
    assert rendered("net N = Linear(3, 4, 5, 6, 7)\n") == lines(
        "net.mod:1:25: error: Linear takes 3 arguments, got 5 [E202]",
        "    1 | net N = Linear(3, 4, 5, 6, 7)",
        "      |                         ^^^^",
        "     = hint: the signature is Linear(out, in, mass)",
    )


def test_too_many_arguments_to_a_def() -> None:
    assert rendered("def F(a) = Linear(a, a)\nnet N = F(1, 2)\n") == lines(
        "net.mod:2:14: error: F takes 1 argument, got 2 [E202]",
        "    2 | net N = F(1, 2)",
        "      |              ^",
        "     = hint: the signature is F(a)",
    )


def test_builtin_named_without_its_arguments() -> None:
    assert rendered("net N = Linear @ ReLU\n") == lines(
        "net.mod:1:9: error: Linear needs arguments (out, in) [E202]",
        "    1 | net N = Linear @ ReLU",
        "      |         ^^^^^^",
        "     = hint: the signature is Linear(out, in, mass)",
    )


def test_unknown_keyword() -> None:
    assert rendered("net N = Linear(3, 4, mas=2)\n") == lines(
        "net.mod:1:22: error: Linear has no argument 'mas' [E203]",
        "    1 | net N = Linear(3, 4, mas=2)",
        "      |                      ^^^^^",
        "     = hint: did you mean 'mass'?",
    )


def test_repeated_keyword() -> None:
    assert rendered("net N = Linear(3, 4, mass=1, mass=2)\n") == lines(
        "net.mod:1:30: error: argument 'mass' of Linear given twice [E203]",
        "    1 | net N = Linear(3, 4, mass=1, mass=2)",
        "      |                              ^^^^^^",
    )


def test_keyword_repeating_a_positional_argument() -> None:
    assert rendered("net N = Linear(3, 4, out=2)\n") == lines(
        "net.mod:1:22: error: argument 'out' of Linear given twice [E203]",
        "    1 | net N = Linear(3, 4, out=2)",
        "      |                      ^^^^^",
    )


def test_value_of_the_wrong_kind() -> None:
    assert rendered("net N = Linear(3, 4) @ 2\n") == lines(
        "net.mod:1:22: error: '@' does not apply to a module and a number [E204]",
        "    1 | net N = Linear(3, 4) @ 2",
        "      |                      ^",
        "     = hint: to scale a module by a number use '*'",
    )


def test_param_must_be_a_number() -> None:
    assert rendered("param p = Linear(3, 4)\n") == lines(
        "net.mod:1:11: error: param 'p' must be a number, got a module [E204]",
        "    1 | param p = Linear(3, 4)",
        "      |           ^^^^^^^^^^^^",
        "     = hint: use 'let' to name a module or a tuple",
    )


def test_duplicate_definition() -> None:
    assert rendered("let a = 1\ndef b = ReLU\nlet a = 2\n") == lines(
        "net.mod:3:5: error: 'a' is already defined on line 1 [E200]",
        "    3 | let a = 2",
        "      |     ^",
    )


def test_duplicate_net() -> None:
    assert rendered("net N = Linear(3, 3)\nnet N = Linear(4, 4)\n") == lines(
        "net.mod:2:5: error: net 'N' is already defined on line 1 [E200]",
        "    2 | net N = Linear(4, 4)",
        "      |     ^",
    )


def test_duplicate_parameter() -> None:
    assert rendered("def F(a, b, a) = Linear(a, b)\n") == lines(
        "net.mod:1:13: error: parameter 'a' of 'F' is repeated [E200]",
        "    1 | def F(a, b, a) = Linear(a, b)",
        "      |             ^",
    )


def test_builtin_cannot_be_redefined() -> None:
    assert rendered("def ReLU = GELU\n") == lines(
        "net.mod:1:5: error: 'ReLU' is a built-in and cannot be redefined [E200]",
        "    1 | def ReLU = GELU",
        "      |     ^^^^",
        "     = hint: choose another name",
    )


def test_recursive_def() -> None:
    assert rendered("def F(n) = Linear(n, n) @ F(n)\nnet N = F(3)\n") == lines(
        "net.mod:1:27: error: 'F' calls itself [E205]",
        "    1 | def F(n) = Linear(n, n) @ F(n)",
        "      |                           ^^^^",
        "     = hint: definitions cannot be recursive; use '** n' to repeat a module",
    )


def test_mutually_recursive_defs() -> None:
    assert rendered("def F = G\ndef G = ReLU @ F\nnet N(x: [2]) = F\n") == lines(
        "net.mod:2:16: error: 'F' calls itself [E205]",
        "    2 | def G = ReLU @ F",
        "      |                ^",
        "     = hint: definitions cannot be recursive; use '** n' to repeat a module",
    )


def test_recursive_let() -> None:
    assert rendered("let a = 2 * a\n") == lines(
        "net.mod:1:5: error: 'a' is defined in terms of itself [E205]",
        "    1 | let a = 2 * a",
        "      |     ^",
    )


def test_let_cycle_reports_the_cycle_then_the_consequence() -> None:
    assert rendered("let a = b + 1\nlet b = a\n") == lines(
        "net.mod:1:5: error: 'a' is defined in terms of itself [E205]",
        "    1 | let a = b + 1",
        "      |     ^",
        "net.mod:2:9: error: 'a' has an error (see above) [E204]",
        "    2 | let b = a",
        "      |         ^",
    )


def test_unused_let_is_still_checked() -> None:
    assert rendered("let unused = Linear(0, 3)\nnet N = Linear(3, 3)\n") == lines(
        "net.mod:1:21: error: argument 'out' of Linear must be at least 1, got 0 [E303]",
        "    1 | let unused = Linear(0, 3)",
        "      |                     ^",
    )


# --- shapes and types --------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes() -> None:
    assert rendered("net N(x: [5]) = Linear(3, 4)\n") == lines(
        "net.mod:1:17: error: shape mismatch: Linear(3, 4) expects [..., 4] but gets [5] "
        "[E300]",
        "    1 | net N(x: [5]) = Linear(3, 4)",
        "      |                 ^^^^^^^^^^^^",
        "     = hint: the input has 5 features: Linear(3, 5)",
    )


def test_shape_mismatch_in_add() -> None:
    assert rendered("net N(x: [3]) = Linear(4, 3) + Linear(5, 3)\n") == lines(
        "net.mod:1:30: error: shape mismatch in '+': [4] and [5] [E300]",
        "    1 | net N(x: [3]) = Linear(4, 3) + Linear(5, 3)",
        "      |                              ^",
        "     = hint: both sides of '+' must have the same shape",
    )


def test_repeat_must_keep_its_shape() -> None:
    assert rendered("net N = Linear(4, 3) ** 2\n") == lines(
        "net.mod:1:9: error: a repeated module must keep its shape, but it maps [3] to [4] "
        "[E300]",
        "    1 | net N = Linear(4, 3) ** 2",
        "      |         ^^^^^^^^^^^^^^^^^",
        "     = hint: only shape-preserving blocks can be repeated",
    )


def test_tuple_fed_to_a_one_input_bond() -> None:
    assert rendered("net N(x: [3]) = ReLU @ (Linear(3, 3), Linear(3, 3))\n") == lines(
        "net.mod:1:17: error: ReLU takes one tensor but gets a tuple ([3], [3]) [E301]",
        "    1 | net N(x: [3]) = ReLU @ (Linear(3, 3), Linear(3, 3))",
        "      |                 ^^^^",
        "     = hint: combine the tuple first, for example with '+' or Add",
    )


def test_single_tensor_fed_to_a_pair_bond() -> None:
    assert rendered("net N(x: [4, 8]) = Rope(8)\n") == lines(
        "net.mod:1:20: error: Rope takes a pair (a, b) but gets [4, 8] [E301]",
        "    1 | net N(x: [4, 8]) = Rope(8)",
        "      |                    ^^^^^^^",
    )


def test_token_ids_fed_to_linear() -> None:
    assert rendered("net N(x: int[8]) = Linear(3, 8)\n") == lines(
        "net.mod:1:20: error: Linear(3, 8) needs real-valued features but gets token ids "
        "int[8] [E302]",
        "    1 | net N(x: int[8]) = Linear(3, 8)",
        "      |                    ^^^^^^^^^^^^",
        "     = hint: Embed maps token ids to vectors",
    )


def test_features_fed_to_embed() -> None:
    assert rendered("net N(x: [8]) = Embed(4, 10)\n") == lines(
        "net.mod:1:17: error: Embed needs integer token ids but gets real features [8] [E302]",
        "    1 | net N(x: [8]) = Embed(4, 10)",
        "      |                 ^^^^^^^^^^^^",
        "     = hint: annotate the input as int[...] for token ids",
    )


def test_dimension_not_divisible() -> None:
    assert rendered("net N(x: [10, 64]) = SplitHeads(5)\n") == lines(
        "net.mod:1:22: error: SplitHeads(5): the feature dimension 64 is not a multiple of 5 "
        "[E304]",
        "    1 | net N(x: [10, 64]) = SplitHeads(5)",
        "      |                      ^^^^^^^^^^^^^",
    )


def test_input_shape_cannot_be_inferred() -> None:
    assert rendered("net N = ReLU\n") == lines(
        "net.mod:1:1: error: cannot infer the input shape of net 'N': it does not start with "
        "an atom [E305]",
        "    1 | net N = ReLU",
        "      | ^^^^^^^^^^^^",
        "     = hint: annotate it: net N(x: [...]) = ...",
    )


def test_axis_out_of_range() -> None:
    assert rendered("net N(x: [4, 5]) = Mean(dim=2)\n") == lines(
        "net.mod:1:20: error: Mean axis 2 is out of range for [4, 5] (per-example axes run "
        "from -2 to 1) [E303]",
        "    1 | net N(x: [4, 5]) = Mean(dim=2)",
        "      |                    ^^^^^^^^^^^",
    )


# --- numbers -----------------------------------------------------------------------------


def test_non_integer_power() -> None:
    assert rendered("net N = Linear(3, 3) ** 1.5\n") == lines(
        "net.mod:1:25: error: non-integer power 1.5 [E400]",
        "    1 | net N = Linear(3, 3) ** 1.5",
        "      |                         ^^^",
        "     = hint: 'm ** n' composes n copies of m; n must be a whole number",
    )


def test_negative_power() -> None:
    assert rendered("net N = Linear(3, 3) ** -1\n") == lines(
        "net.mod:1:25: error: negative power -1 [E400]",
        "    1 | net N = Linear(3, 3) ** -1",
        "      |                         ^^",
        "     = hint: 'm ** n' composes n copies of m; n must be 0 or more",
    )


def test_zero_scalar() -> None:
    assert rendered("net N = 0 * Linear(3, 3)\n") == lines(
        "net.mod:1:9: error: a module multiplied by zero [E401]",
        "    1 | net N = 0 * Linear(3, 3)",
        "      |         ^^^^^^^^^^^^^^^^",
        "     = hint: a zero scalar removes the module; leave it out instead",
    )


def test_zero_mul_bond() -> None:
    assert rendered("net N = Mul(0.0) @ Linear(3, 3)\n") == lines(
        "net.mod:1:13: error: argument 's' of Mul is zero [E401]",
        "    1 | net N = Mul(0.0) @ Linear(3, 3)",
        "      |             ^^^",
        "     = hint: a zero scalar removes the module; leave it out instead",
    )


def test_module_divided_by_zero() -> None:
    assert rendered("net N = Linear(3, 3) / 0\n") == lines(
        "net.mod:1:24: error: division by zero [E402]",
        "    1 | net N = Linear(3, 3) / 0",
        "      |                        ^",
    )


def test_number_divided_by_zero() -> None:
    assert rendered("param p = 1 // (2 - 2)\n") == lines(
        "net.mod:1:17: error: division by zero [E402]",
        "    1 | param p = 1 // (2 - 2)",
        "      |                 ^^^^^",
    )


def test_non_finite_number() -> None:
    assert rendered("let a = 1e308 * 10\n") == lines(
        "net.mod:1:9: error: non-finite number (inf) [E403]",
        "    1 | let a = 1e308 * 10",
        "      |         ^^^^^^^^^^",
    )


def test_float_power_overflow() -> None:
    assert rendered("let a = 2.0 ** 1050\n") == lines(
        "net.mod:1:9: error: number too large [E403]",
        "    1 | let a = 2.0 ** 1050",
        "      |         ^^^^^^^^^^^",
    )


def test_integer_beyond_the_compile_time_range() -> None:
    assert rendered("let a = 10 ** 19\n") == lines(
        "net.mod:1:9: error: number too large (limit is ±1e+18) [E403]",
        "    1 | let a = 10 ** 19",
        "      |         ^^^^^^^^",
    )


@pytest.mark.parametrize("arg, message", [
    ("0", "argument 'out' of Linear must be at least 1, got 0"),
    ("-1", "argument 'out' of Linear must be at least 1, got -1"),
])
def test_dimension_below_one(arg: str, message: str) -> None:
    assert rendered(f"net N = Linear({arg}, 4)\n") == lines(
        f"net.mod:1:16: error: {message} [E303]",
        f"    1 | net N = Linear({arg}, 4)",
        "      |                " + "^" * len(arg),
    )


def test_dimension_from_true_division() -> None:
    assert rendered("net N = Linear(8 / 2, 4)\n") == lines(
        "net.mod:1:16: error: argument 'out' of Linear must be an integer, got 4.0 [E303]",
        "    1 | net N = Linear(8 / 2, 4)",
        "      |                ^^^^^",
        "     = hint: '/' always gives a real number; use '//' for integer division",
    )


def test_dimension_too_large() -> None:
    assert rendered("net N = Linear(10 ** 9, 4)\n") == lines(
        "net.mod:1:16: error: argument 'out' of Linear is 1,000,000,000, above the limit of "
        "100,000,000 [E902]",
        "    1 | net N = Linear(10 ** 9, 4)",
        "      |                ^^^^^^^",
    )


@pytest.mark.parametrize("mass", ["0", "-1"])
def test_bad_mass(mass: str) -> None:
    assert rendered(f"net N = Linear(3, 4, mass={mass})\n") == lines(
        f"net.mod:1:22: error: argument 'mass' of Linear must be positive, got {mass} [E404]",
        f"    1 | net N = Linear(3, 4, mass={mass})",
        "      |                      " + "^" * len(f"mass={mass}"),
    )


def test_tare_of_a_massless_module() -> None:
    assert rendered("net N(x: [3]) = tare(ReLU @ GELU, 2)\n") == lines(
        "net.mod:1:22: error: tare of a module without mass (it has no atoms) [E406]",
        "    1 | net N(x: [3]) = tare(ReLU @ GELU, 2)",
        "      |                      ^^^^^^^^^^^",
    )


# --- files -------------------------------------------------------------------------------


def test_missing_import(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({"a.mod": 'import "nope.mod"\n'}))
    assert rendered(None, "a.mod") == lines(
        "a.mod:1:8: error: cannot import \"nope.mod\": No such file or directory [E105]",
        '    1 | import "nope.mod"',
        "      |        ^^^^^^^^^^",
    )


def test_cyclic_import(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({
        "a.mod": 'import "b.mod"\nnet N = Linear(3, 3)\n',
        "b.mod": '# b needs a\nimport "a.mod"\n',
    }))
    assert rendered(None, "a.mod") == lines(
        "b.mod:2:8: error: import cycle: a.mod -> b.mod -> a.mod [E106]",
        '    2 | import "a.mod"',
        "      |        ^^^^^^^",
        "     = hint: move the shared definitions into a third file",
    )


def test_import_of_a_directory(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({"a.mod": 'import "lib"\n', "lib/x.mod": ""}))
    assert rendered(None, "a.mod") == lines(
        "a.mod:1:8: error: cannot import \"lib\": it is a directory [E105]",
        '    1 | import "lib"',
        "      |        ^^^^^",
    )


def test_import_name_with_a_nul_character() -> None:
    assert rendered('import "a\0b.mod"\n') == lines(
        "net.mod:1:8: error: cannot import a file name with a NUL character [E105]",
        '    1 | import "a\ufffdb.mod"',
        "      |        ^^^^^^^^^",
    )


def test_undecodable_bytes(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({"a.mod": b"let a = 1\nlet b = \xff\n"}))
    assert rendered(None, "a.mod") == lines(
        "a.mod:2:9: error: byte 0xff is not valid UTF-8 [E104]",
        "    2 | let b = \ufffd",
        "      |         ^",
        "     = hint: save the file as UTF-8",
    )


def test_undecodable_bytes_in_an_import(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({"a.mod": 'import "b.mod"\n', "b.mod": b"\xc3\x28\n"}))
    assert rendered(None, "a.mod") == lines(
        "b.mod:1:1: error: byte 0xc3 is not valid UTF-8 [E104]",
        "    1 | \ufffd(",
        "      | ^",
        "     = hint: save the file as UTF-8",
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_import_of_an_endless_file() -> None:
    assert rendered('import "/dev/zero"\n') == lines(
        f"net.mod:1:8: error: /dev/zero is larger than {MAX_SOURCE_BYTES:,} bytes [E904]",
        '    1 | import "/dev/zero"',
        "      |        ^^^^^^^^^^^",
    )


def test_main_file_too_large_to_read(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({"big.mod": "#" * 101}))
    monkeypatch.setattr(modc.loader, "MAX_SOURCE_BYTES", 100)
    assert rendered(None, "big.mod") == "modc: error: big.mod is larger than 100 bytes [E904]"


def test_file_too_large() -> None:
    text = "let a = 1\n" * (MAX_SOURCE_CHARS // 10 + 1)
    assert rendered(text) == lines(
        f"net.mod:1:1: error: file is larger than {MAX_SOURCE_CHARS:,} characters [E904]",
        "    1 | let a = 1",
        "      | ^",
    )


# --- command-line values -----------------------------------------------------------------


def test_override_of_an_unknown_name() -> None:
    assert rendered("param width = 8\n", overrides={"wdth": 4}) == lines(
        "modc: error: -D wdth: no param named 'wdth' [E207]",
        "  = hint: did you mean 'width'?",
    )


def test_override_of_a_let() -> None:
    assert rendered("param w = 8\nlet d = 2 * w\n", overrides={"d": 4}) == lines(
        "modc: error: -D d: no param named 'd' [E207]",
        "  = hint: 'd' is a let; only a param can be set with -D",
    )


def test_override_out_of_range() -> None:
    text = "param w = 8\nnet N = w * Linear(3, 3)\n"
    assert rendered(text, overrides={"w": 10**400}) == lines(
        "modc: error: -D w: number too large (limit is ±1e+18) [E207]",
        "net.mod:2:9: error: 'w' has an error (see above) [E204]",
        "    2 | net N = w * Linear(3, 3)",
        "      |         ^",
    )


def test_unknown_net() -> None:
    assert rendered("net N = Linear(3, 3)\nnet M = Linear(3, 3)\n", net="Q") == lines(
        "modc: error: --net Q: no net of that name [E206]",
        "  = hint: nets in this file: N, M",
    )


# --- limits ------------------------------------------------------------------------------


def test_parameter_limit() -> None:
    # 2000 copies of a 100,000 x 100,000 weight: 2e13 parameters, twice the limit.
    assert rendered("net N = Linear(100000, 100000) ** 2000\n") == lines(
        "net.mod:1:1: error: net 'N' has 20,000,000,000,000 parameters, above the limit of "
        "10,000,000,000,000 [E903]",
        "    1 | net N = Linear(100000, 100000) ** 2000",
        "      | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    )


def test_repeat_limit() -> None:
    count = limits.MAX_REPEAT + 1
    assert rendered(f"net N = Linear(3, 3) ** {count}\n") == lines(
        f"net.mod:1:25: error: repeat count {count:,} is above the limit of "
        f"{limits.MAX_REPEAT:,} [E901]",
        f"    1 | net N = Linear(3, 3) ** {count}",
        "      |                         " + "^" * len(str(count)),
    )


def test_repeat_limit_with_a_huge_float_count() -> None:
    assert rendered("net N = Linear(3, 3) ** 1e300\n") == lines(
        "net.mod:1:25: error: repeat count 1e+300 is above the limit of 100,000 [E901]",
        "    1 | net N = Linear(3, 3) ** 1e300",
        "      |                         ^^^^^",
    )


def test_node_limit_through_exponential_let_doubling() -> None:
    # a_k = a_(k-1) @ a_(k-1) has 2^(k+1) - 1 nodes; the lets so far have charged
    # 2^(k+2) - k - 3 nodes, first above 200,000 at the second clone of a15 in a16.
    text = "let a0 = ReLU\n" + "".join(f"let a{k} = a{k - 1} @ a{k - 1}\n" for k in range(1, 17))
    assert rendered(text) == lines(
        "net.mod:17:17: error: program too large: more than 200,000 modules [E904]",
        "    17 | let a16 = a15 @ a15",
        "       |                 ^^^",
        "      = hint: use '** n' to repeat a block instead of writing it out",
    )


def test_evaluation_step_limit(monkeypatch) -> None:
    # def D_k = D_(k-1) + D_(k-1) evaluates 2^(k+1) - 1 expressions and builds no module.
    monkeypatch.setattr(limits, "MAX_STEPS", 1000)
    text = "def D0 = 1\n" + "".join(f"def D{k} = D{k - 1} + D{k - 1}\n" for k in range(1, 11))
    out = rendered(text + "let x = D10\n")
    assert out.startswith("net.mod:")
    assert "error: program too large: more than 1,000 evaluation steps [E904]" in out
    assert out.count("[E904]") == 1


def test_bracket_nesting_limit() -> None:
    depth = MAX_BRACKET_DEPTH + 1
    line = "let a = " + "(" * depth + "1" + ")" * depth
    column = len("let a = ") + MAX_BRACKET_DEPTH + 1
    assert rendered(line + "\n") == lines(
        f"net.mod:1:{column}: error: brackets nested deeper than {MAX_BRACKET_DEPTH} [E900]",
        f"    1 | {line}",
        "      | " + " " * (column - 1) + "^",
    )


def test_nesting_limit_of_a_long_chain() -> None:
    expr = " @ ".join(["ReLU"] * (MAX_EXPR_DEPTH + 1))
    assert rendered(f"net N(x: [3]) = {expr}\n") == lines(
        f"net.mod:1:17: error: expression nested more than {MAX_EXPR_DEPTH} levels deep [E900]",
        f"    1 | net N(x: [3]) = {expr}",
        "      | " + " " * 16 + "^" * len(expr),
        "     = hint: name parts of it with 'let' or 'def', or repeat with '** n'",
    )


def test_nesting_limit_of_modules_built_through_lets(monkeypatch) -> None:
    # a_k = ReLU @ a_(k-1) is k + 1 modules deep; a smaller limit keeps the test fast.
    monkeypatch.setattr(limits, "MAX_HEIGHT", 30)
    text = "let a0 = ReLU\n" + "".join(f"let a{k} = ReLU @ a{k - 1}\n" for k in range(1, 31))
    assert rendered(text) == lines(
        "net.mod:31:16: error: modules nested deeper than 30 [E900]",
        "    31 | let a30 = ReLU @ a29",
        "       |                ^",
        "      = hint: use '** n' to repeat a block instead of nesting it",
    )


def test_nesting_limit_of_definitions_calling_definitions() -> None:
    # Each expression is within the parser's limit; the chain of calls is not.
    chain = "def F0(x) = x\n" + "".join(
        f"def F{k}(x) = {'-' * 390}F{k - 1}(x)\n" for k in range(1, 40))
    out = rendered(chain + "let a = F39(1)\n")
    assert out == lines(
        "net.mod:41:1: error: definitions and expressions nested too deeply to evaluate "
        "[E900]",
        "    41 | let a = F39(1)",
        "       | ^^^^^^^^^^^^^^",
        "      = hint: name intermediate results with 'let', or repeat with '** n'",
    )


# --- the reference's tables --------------------------------------------------------------

LANGUAGE_DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"


def test_every_code_is_in_the_reference() -> None:
    doc = LANGUAGE_DOC.read_text("utf-8")
    for code, meaning in CODES.items():
        assert f"| {code} | {meaning} |" in doc


def test_limits_table_matches_the_constants() -> None:
    doc = LANGUAGE_DOC.read_text("utf-8")
    rows = [
        (MAX_SOURCE_CHARS, "E904"), (MAX_SOURCE_BYTES, "E904"), (MAX_BRACKET_DEPTH, "E900"),
        (MAX_EXPR_DEPTH, "E900"),
        (limits.MAX_HEIGHT, "E900"), (limits.MAX_CALL_DEPTH, "E900"),
        (limits.MAX_NODES, "E904"), (limits.MAX_STEPS, "E904"), (limits.MAX_DIM, "E902"),
        (limits.MAX_RANK, "E303"), (limits.MAX_REPEAT, "E901"),
    ]
    for value, code in rows:
        assert f"| {value:,} | {code} |" in doc
    for value, code in ((limits.MAX_INT, "E403"), (limits.MAX_PARAMETERS, "E903")):
        exponent = len(str(value)) - 1
        assert value == 10**exponent and f"| 10^{exponent} | {code} |" in doc


def test_non_finite_target_norm_is_an_error() -> None:
    # 1e-320 is subnormal: the Linear's share T / |s| overflows to inf (check_finite).
    assert rendered("net N(x: [3]) = 1e-320 * Linear(3, 3)\n") == lines(
        "net.mod:1:26: error: the target norm of Linear(3, 3) is not finite (inf) [E403]",
        "    1 | net N(x: [3]) = 1e-320 * Linear(3, 3)",
        "      |                          ^^^^^^^^^^^^",
        "     = hint: a scalar or mass this extreme leaves no usable learning rate",
    )


def test_error_inside_the_prelude_points_at_the_users_call() -> None:
    # ResCNN(blocks=1) builds Residual(1, ...), whose (1 - 1/1) * Identity is a zero scalar.
    assert rendered("net N(x: [1, 8, 8]) = ResCNN(8, 1, 1, 1, 10)\n") == lines(
        "net.mod:1:23: error: a module multiplied by zero [E401]",
        "    1 | net N(x: [1, 8, 8]) = ResCNN(8, 1, 1, 1, 10)",
        "      |                       ^^^^^^^^^^^^^^^^^^^^^^",
        "     = hint: a zero scalar removes the module; leave it out instead",
        "     = note: raised inside the prelude's ResCNN, at: def Residual(L, branch) = "
        "(1 - 1/L) * Identity + 1/L * branch",
    )
