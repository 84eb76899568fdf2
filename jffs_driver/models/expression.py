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

_FUNCS_NP: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp, "ln": np.log, "log": np.log10, "sqrt": np.sqrt, "abs": np.abs,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "atan2": np.arctan2,
}
_CONSTS = {"PI": math.pi}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}


class ExpressionError(ValueError):
    """The expression uses something outside the whitelist (message says what)."""


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
        source = self.text.replace("^", "**")
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"cannot parse {self.text!r}: {exc.msg}") from exc
        for node in ast.walk(tree):
            if isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
                if isinstance(node, ast.operator) and type(node) not in _BINOPS:
                    raise ExpressionError(f"operator {type(node).__name__} is not allowed in {self.text!r}")
                continue
            if isinstance(node, ast.BinOp) or isinstance(node, ast.UnaryOp):
                if isinstance(node, ast.UnaryOp) and not isinstance(node.op, (ast.USub, ast.UAdd)):
                    raise ExpressionError(f"only unary + and - are allowed in {self.text!r}")
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                continue
            if isinstance(node, ast.Name):
                if node.id == self.variable or node.id in _CONSTS or node.id in _FUNCS_NP:
                    continue
                raise ExpressionError(
                    f"unknown name {node.id!r} in {self.text!r}; use {self.variable!r}, PI and "
                    f"the functions {sorted(_FUNCS_NP)}"
                )
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS_NP or node.keywords:
                    raise ExpressionError(f"unsupported call in {self.text!r}; allowed: {sorted(_FUNCS_NP)}")
                continue
            raise ExpressionError(f"{type(node).__name__} is not allowed in {self.text!r}")
        return tree

    def __call__(self, z: np.ndarray | float) -> np.ndarray:
        """Evaluate with numpy."""
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
