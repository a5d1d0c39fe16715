"""Go's ``encoding/json`` output, which the real daemons write to etcd and print.

flanneld, Calico and dockerd are Go programs: what they store and print is
``json.Marshal`` (no spaces, fields in struct order) or ``json.MarshalIndent``.
Both escape ``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e`` and ``\\u0026`` and
U+2028/U+2029 (``HTMLEscape``) and write other text as UTF-8.
"""
import json

_HTML_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def go_json(obj, indent: int = None) -> str:
    """``json.Marshal(obj)``, or ``json.MarshalIndent(obj, "", " " * indent)``."""
    if indent is None:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(obj, indent=indent, ensure_ascii=False)
    for char, escaped in _HTML_ESCAPES:
        text = text.replace(char, escaped)
    return text


__all__ = ["go_json"]
