"""Calico's selector language (``libcalico-go/lib/selector``: ``tokenizer``, ``parser``,
``ast``), as Felix parses a policy's and a rule's selectors.

:func:`parse` gives a :class:`Selector` that evaluates a label map and prints itself in the
parser's canonical form (``String()``: double quotes, ``(a && b)`` groups, ``!`` without a
space, set members sorted); :meth:`Selector.unique_id` is ``hash.MakeUniqueID("s",
String())``, the IP set id Felix names its ``cali40s:...`` sets after.

The grammar: ``label == "v"``, ``!=``, ``in {"a", "b"}``, ``not in {...}``, ``contains``,
``starts with``, ``ends with``, ``has(label)``, ``all()``, ``global()``, ``!``, ``&&``,
``||`` and parentheses; strings in single or double quotes.
"""
import base64
import hashlib
import re

import attrs

__all__ = ["Selector", "SelectorError", "parse", "make_unique_id"]


class SelectorError(ValueError):
    """A selector that does not parse; the message is the parser's."""


def make_unique_id(prefix: str, content: str) -> str:
    """``hash.MakeUniqueID``: ``prefix:`` + unpadded URL-safe base64 of SHA-224 of
    ``prefix:content``."""
    digest = hashlib.sha224(f"{prefix}:{content}".encode()).digest()
    return f"{prefix}:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


# -- the AST (ast.go): each node evaluates labels and prints its fragments ------------
def _quoted(s: str) -> str:
    q = "'" if '"' in s else '"'
    return f"{q}{s}{q}"


@attrs.frozen
class _Op:
    label: str
    op: str            # "==", "!=", "contains", "starts with", "ends with"
    value: str

    def evaluate(self, labels: dict) -> bool:
        v = labels.get(self.label)
        if self.op == "!=":
            return v != self.value          # a missing label is "not equal"
        if v is None:
            return False
        return {"==": v == self.value, "contains": self.value in v,
                "starts with": v.startswith(self.value), "ends with": v.endswith(self.value)}[self.op]

    def __str__(self):
        return f"{self.label} {self.op} {_quoted(self.value)}"


@attrs.frozen
class _In:
    label: str
    values: tuple      # sorted, unique (ConvertToStringSetInPlace)
    negated: bool

    def evaluate(self, labels: dict) -> bool:
        v = labels.get(self.label)
        if v is None:
            return self.negated
        return (v in self.values) != self.negated

    def __str__(self):
        op = "not in" if self.negated else "in"
        return f"{self.label} {op} {{" + ", ".join(_quoted(v) for v in self.values) + "}"


@attrs.frozen
class _Has:
    label: str

    def evaluate(self, labels: dict) -> bool:
        return self.label in labels

    def __str__(self):
        return f"has({self.label})"


@attrs.frozen
class _All:
    word: str = "all()"          # or "global()": both select every labelled thing here

    def evaluate(self, labels: dict) -> bool:
        return True

    def __str__(self):
        return self.word


@attrs.frozen
class _Not:
    operand: object

    def evaluate(self, labels: dict) -> bool:
        return not self.operand.evaluate(labels)

    def __str__(self):
        return f"!{self.operand}"


@attrs.frozen
class _BoolOp:
    op: str            # "&&" or "||"
    operands: tuple

    def evaluate(self, labels: dict) -> bool:
        results = (o.evaluate(labels) for o in self.operands)
        return all(results) if self.op == "&&" else any(results)

    def __str__(self):
        return "(" + f" {self.op} ".join(str(o) for o in self.operands) + ")"


@attrs.frozen
class Selector:
    """A parsed selector: ``evaluate(labels)``, ``str()`` the canonical text,
    ``unique_id`` Felix's IP set id for it."""

    root: object

    def evaluate(self, labels: dict) -> bool:
        return self.root.evaluate(labels)

    def __str__(self):
        return str(self.root)

    @property
    def unique_id(self) -> str:
        return make_unique_id("s", str(self))


# -- the tokenizer (tokenizer.go) ------------------------------------------------------
_LABEL = r"[a-zA-Z0-9_./-]{1,512}"
_RE = {
    "label": re.compile("^" + _LABEL),
    "has": re.compile(r"^has\(\s*(" + _LABEL + r")\s*\)"),
    "all": re.compile(r"^all\(\s*\)"),
    "global": re.compile(r"^global\(\s*\)"),
    "not in": re.compile(r"^not\s*in\b"),
    "in": re.compile(r"^in\b"),
    "contains": re.compile(r"^contains"),
    "starts with": re.compile(r"^starts\s*with"),
    "ends with": re.compile(r"^ends\s*with"),
}
_SIMPLE = {"(": "(", ")": ")", "{": "{", "}": "}", ",": ","}


def _tokenize(text: str) -> list:
    tokens = []
    s = text
    while True:
        s = s.lstrip(" \t")
        if not s:
            tokens.append(("eof", None))
            return tokens
        last = tokens[-1][0] if tokens else None
        c = s[0]
        if c in _SIMPLE:
            tokens.append((c, None))
            s = s[1:]
        elif c in "\"'":
            end = s.find(c, 1)
            if end == -1:
                raise SelectorError("unterminated string")
            tokens.append(("string", s[1:end]))
            s = s[end + 1:]
        elif s.startswith("=="):
            tokens.append(("==", None))
            s = s[2:]
        elif c == "=":
            raise SelectorError("expected ==")
        elif s.startswith("!="):
            tokens.append(("!=", None))
            s = s[2:]
        elif c == "!":
            tokens.append(("!", None))
            s = s[1:]
        elif s.startswith("&&"):
            tokens.append(("&&", None))
            s = s[2:]
        elif c == "&":
            raise SelectorError("expected &&")
        elif s.startswith("||"):
            tokens.append(("||", None))
            s = s[2:]
        elif c == "|":
            raise SelectorError("expected ||")
        elif last == "label":
            for op in ("contains", "starts with", "ends with", "not in", "in"):
                m = _RE[op].match(s)
                if m:
                    tokens.append((op, None))
                    s = s[m.end():]
                    break
            else:
                raise SelectorError(f"unexpected characters after label '{tokens[-1][1]}', "
                                    f"was expecting an operator")
        else:
            for kind in ("has", "all", "global", "label"):
                m = _RE[kind].match(s)
                if m:
                    tokens.append((kind, m.group(1) if kind == "has" else m.group(0)))
                    s = s[m.end():]
                    break
            else:
                raise SelectorError(f"unexpected characters: {s!r}")


# -- the parser (parser.go) ----------------------------------------------------------
def parse(text: str) -> Selector:
    """``selector.Parse``: the empty selector is ``all()``."""
    tokens = _tokenize(text)
    if tokens[0][0] == "eof":
        return Selector(_All())
    node, rest = _parse_or(tokens)
    if len(rest) != 1:
        raise SelectorError(f"unexpected content at end of selector {rest}")
    return Selector(node)


def _parse_or(tokens):
    nodes = []
    node, tokens = _parse_and(tokens)
    nodes.append(node)
    while tokens[0][0] == "||":
        node, tokens = _parse_and(tokens[1:])
        nodes.append(node)
    return (nodes[0] if len(nodes) == 1 else _BoolOp("||", tuple(nodes))), tokens


def _parse_and(tokens):
    nodes = []
    node, tokens = _parse_operation(tokens)
    nodes.append(node)
    while tokens[0][0] == "&&":
        node, tokens = _parse_operation(tokens[1:])
        nodes.append(node)
    return (nodes[0] if len(nodes) == 1 else _BoolOp("&&", tuple(nodes))), tokens


def _parse_operation(tokens):
    negated = False
    while tokens[0][0] == "!":
        negated = not negated
        tokens = tokens[1:]
    kind, value = tokens[0]
    if kind == "has":
        node, tokens = _Has(value), tokens[1:]
    elif kind in ("all", "global"):
        node, tokens = _All(f"{kind}()"), tokens[1:]
    elif kind == "label":
        if len(tokens) < 3:
            raise SelectorError(f"Unexpected end of string in middle of op {tokens}")
        op, (lit_kind, lit) = tokens[1][0], tokens[2]
        if op in ("==", "!=", "contains", "starts with", "ends with"):
            if lit_kind != "string":
                raise SelectorError("Expected string")
            node, tokens = _Op(value, op, lit), tokens[3:]
        elif op in ("in", "not in"):
            if lit_kind != "{":
                raise SelectorError("Expected set literal")
            rest, values = tokens[3:], []
            while rest[0][0] == "string":
                values.append(rest[0][1])
                rest = rest[1:]
                if rest[0][0] != ",":
                    break
                rest = rest[1:]
            if rest[0][0] != "}":
                raise SelectorError("Expected }")
            node, tokens = _In(value, tuple(sorted(set(values))), op == "not in"), rest[1:]
        else:
            raise SelectorError(f"Expected == or != not {tokens[1]}")
    elif kind == "(":
        node, tokens = _parse_or(tokens[1:])
        if tokens[0][0] != ")":
            raise SelectorError("Expected )")
        tokens = tokens[1:]
    else:
        raise SelectorError(f"Unexpected token: {tokens[0]}")
    return (_Not(node) if negated else node), tokens
