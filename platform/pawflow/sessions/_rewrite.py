"""The source rewrite that makes calls in user functions durable.

Every call inside a function body, ``f(a, b=1)``, becomes
``__pawflow_call__(f, a, b=1)``; the runtime then decides whether ``f`` runs
inline or as a recorded activity. Module-level and class-level code (imports,
decorators, defaults of top-level functions) runs once when the module loads and
is never rewritten.

In ``async def`` bodies ``await f(a)`` becomes ``await __pawflow_call__(f, a)``:
for an external coroutine function the hook returns a coroutine of its own, so
the awaiting is what makes the call.
"""

from __future__ import annotations

import ast

__all__ = ["CALL_HOOK", "rewrite_module"]

CALL_HOOK = "__pawflow_call__"

# Calls that inspect the caller's own frame; wrapping them would change their meaning.
_FRAME_SENSITIVE = frozenset(
    {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint", CALL_HOOK}
)


class _CallRewriter(ast.NodeTransformer):
    def __init__(self) -> None:
        self._depth = 0  # > 0 while inside a function body

    def _visit_signature(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        # Defaults and decorators are evaluated where the function is defined,
        # so they belong to the enclosing scope's depth.
        node.args = self.visit(node.args)
        if not isinstance(node, ast.Lambda):
            node.decorator_list = [self.visit(d) for d in node.decorator_list]
            if node.returns is not None:
                node.returns = self.visit(node.returns)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        self._visit_signature(node)
        self._depth += 1
        node.body = [self.visit(stmt) for stmt in node.body]
        self._depth -= 1
        return node

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self._visit_signature(node)
        self._depth += 1
        node.body = self.visit(node.body)
        self._depth -= 1
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if self._depth == 0:
            return node
        if isinstance(node.func, ast.Name) and node.func.id in _FRAME_SENSITIVE:
            return node
        hook = ast.copy_location(ast.Name(id=CALL_HOOK, ctx=ast.Load()), node.func)
        return ast.copy_location(
            ast.Call(func=hook, args=[node.func, *node.args], keywords=node.keywords), node
        )


def rewrite_module(source: str, filename: str) -> ast.Module:
    """Parse ``source`` and rewrite the calls in its function bodies.

    Raises ``SyntaxError`` (with the user's file and line) for invalid source.
    """
    tree = ast.parse(source, filename=filename)
    rewritten = _CallRewriter().visit(tree)
    ast.fix_missing_locations(rewritten)
    assert isinstance(rewritten, ast.Module)
    return rewritten
