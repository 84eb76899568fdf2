"""Safe one-variable expressions shared by numpy (quadrature) and LAMMPS (atom variables).

Users write a potential U(z) in LAMMPS-like syntax (``^`` for powers; functions ``exp``,
``ln``, ``log`` (base 10), ``sqrt``, ``abs``, ``sin``, ``cos``, ``tan``, ``asin``, ``acos``,
``atan``, ``atan2``; constant ``PI``). The expression is parsed once with Python's ``ast``
(after ``^`` -> ``**``), checked against that whitelist, and rendered both as a numpy function
and as a fully parenthesised LAMMPS formula, so both sides agree on operator precedence
(LAMMPS binds unary minus tighter than ``^``; full parentheses remove the ambiguity).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import EXIT_INTERNAL, JffsError

_FUNCS_NP: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp, "ln": np.log, "log": np.log10, "sqrt": np.sqrt, "abs": np.abs,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "atan2": np.arctan2,
}
_CONSTS = {"PI": math.pi}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}
#: Number of arguments of every function (numpy and LAMMPS agree on these).
_ARITY = {name: 2 if name == "atan2" else 1 for name in _FUNCS_NP}

#: Longest accepted expression text (characters). The LAMMPS force formula holds two copies
#: of it with every ``z`` expanded, and evaluation recurses over the tree.
MAX_TEXT = 2000
#: Deepest accepted expression tree (a sum of N terms is N deep): keeps numpy evaluation and
#: LAMMPS's recursive formula parser far from their recursion limits.
MAX_DEPTH = 100


class ExpressionError(JffsError, ValueError):
    """The expression uses something outside the whitelist (message says what).

    Configuration validation parses every expression first and reports this error as a
    :class:`~jffs_driver.errors.ConfigError` problem (exit 2). One that escapes later means
    the validation missed a case, a bug: hence the internal exit code, as before this class
    joined the hierarchy.
    """

    exit_code = EXIT_INTERNAL


@dataclass(frozen=True)
class Expression:
    """A parsed expression of one variable.

    Attributes
    ----------
    text
        The user's text.
    variable
        Name of the free variable (``'z'``).
    """

    text: str
    variable: str = "z"

    def __post_init__(self) -> None:
        self._tree()  # validate eagerly

    def _tree(self) -> ast.Expression:
        if not isinstance(self.text, str):
            raise ExpressionError(f"an expression must be text, got {type(self.text).__name__}")
        if len(self.text) > MAX_TEXT:
            raise ExpressionError(f"the expression has {len(self.text)} characters; at most {MAX_TEXT} are accepted "
                                  "(a potential is a short formula in z)")
        if any(not ch.isprintable() for ch in self.text):
            raise ExpressionError("the expression contains control characters (line breaks, NUL); write it on one line")
        source = self.text.replace("^", "**")
        try:
            tree = ast.parse(source, mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            msg = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
            raise ExpressionError(f"cannot parse {_short(self.text)}: {msg}") from exc
        depth = _depth(tree.body)
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested {depth} levels deep; at most {MAX_DEPTH} are accepted "
                                  "(write long sums as products or powers)")
        for node in ast.walk(tree):
            if isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
                if isinstance(node, ast.operator) and type(node) not in _BINOPS:
                    raise ExpressionError(f"operator {type(node).__name__} is not allowed in {_short(self.text)}")
                continue
            if isinstance(node, ast.BinOp) or isinstance(node, ast.UnaryOp):
                if isinstance(node, ast.UnaryOp) and not isinstance(node.op, (ast.USub, ast.UAdd)):
                    raise ExpressionError(f"only unary + and - are allowed in {_short(self.text)}")
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                try:
                    finite = math.isfinite(float(node.value))
                except OverflowError:  # an integer literal beyond the float range
                    finite = False
                if not finite:
                    raise ExpressionError(f"a number in {_short(self.text)} is too large (not a finite float)")
                continue
            if isinstance(node, ast.Name):
                if node.id == self.variable or node.id in _CONSTS or node.id in _FUNCS_NP:
                    continue
                raise ExpressionError(
                    f"unknown name {node.id!r} in {_short(self.text)}; use {self.variable!r}, PI and "
                    f"the functions {sorted(_FUNCS_NP)}"
                )
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS_NP or node.keywords:
                    raise ExpressionError(f"unsupported call in {_short(self.text)}; allowed: {sorted(_FUNCS_NP)}")
                if len(node.args) != _ARITY[node.func.id] or any(isinstance(a, ast.Starred) for a in node.args):
                    raise ExpressionError(f"{node.func.id}() takes {_ARITY[node.func.id]} argument(s), got "
                                          f"{len(node.args)} in {_short(self.text)}")
                continue
            raise ExpressionError(f"{type(node).__name__} is not allowed in {_short(self.text)}")
        return tree

    def __call__(self, z: np.ndarray | float) -> np.ndarray:
        """Evaluate with numpy (overflow, division by zero and domain errors give inf/NaN
        silently: callers check finiteness, e.g. :func:`jffs_driver.config_checks` on a grid)."""
        with np.errstate(all="ignore"):
            return np.asarray(self._eval(self._tree().body, np.asarray(z, dtype=np.float64)))

    def _eval(self, node: ast.AST, z: np.ndarray) -> np.ndarray:
        if isinstance(node, ast.Constant):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return z if node.id == self.variable else np.float64(_CONSTS[node.id])
        if isinstance(node, ast.UnaryOp):
            val = self._eval(node.operand, z)
            return -val if isinstance(node.op, ast.USub) else val
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, z), self._eval(node.right, z)
            op = type(node.op)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.Div:
                return a / b
            return np.power(a, b)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return _FUNCS_NP[node.func.id](*(self._eval(arg, z) for arg in node.args))
        raise ExpressionError(f"cannot evaluate {ast.dump(node)}")  # pragma: no cover

    def lammps(self, variable_text: str | None = None) -> str:
        """Render as a fully parenthesised LAMMPS formula, the variable replaced by ``variable_text``."""
        sub = variable_text if variable_text is not None else self.variable
        return self._render(self._tree().body, sub)

    def _render(self, node: ast.AST, sub: str) -> str:
        if isinstance(node, ast.Constant):
            return repr(float(node.value))
        if isinstance(node, ast.Name):
            return f"({sub})" if node.id == self.variable else repr(_CONSTS[node.id])
        if isinstance(node, ast.UnaryOp):
            inner = self._render(node.operand, sub)
            return f"(-{inner})" if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp):
            return f"({self._render(node.left, sub)}{_BINOPS[type(node.op)]}{self._render(node.right, sub)})"
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            args = ",".join(self._render(a, sub) for a in node.args)
            return f"{node.func.id}({args})"
        raise ExpressionError(f"cannot render {ast.dump(node)}")  # pragma: no cover

    def lammps_force(self, h: float) -> str:
        """LAMMPS formula of -dU/dz by a central difference of step ``h`` (length units)."""
        up = self.lammps(f"z+{h!r}")
        down = self.lammps(f"z-{h!r}")
        return f"-({up}-{down})/{2.0 * h!r}"


def _short(text: str, limit: int = 80) -> str:
    """The expression for an error message (long ones shortened)."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


def _depth(root: ast.AST) -> int:
    """Depth of an expression tree, computed without recursion."""
    deepest, todo = 0, [(root, 1)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in ast.iter_child_nodes(node)
                    if not isinstance(child, (ast.Load, ast.operator, ast.unaryop)))
    return deepest
