"""An ``Inspection`` as JSON, for the child process that reads a file to hand back to the station.

JSON and not pickle: the child parses hostile bytes, and whatever it sends must be data the
station reads, never code it runs. Decoding checks every field's type, so a damaged or forged
answer is an error (``WireError``), never a half-built tree that would be judged.
"""

from __future__ import annotations

from typing import Any

from attest.image.model import Finding, FlashRegion, Inspection, Node, VendorSignature


class WireError(ValueError):
    """The child's answer is not a well-formed inspection."""


def inspection_to_json(inspection: Inspection) -> dict[str, Any]:
    return {
        "file": inspection.file,
        "root": _node_to_json(inspection.root),
        "findings": [[f.code, f.path, f.detail, f.expected, f.found] for f in inspection.findings],
        "signatures": [s.to_json() for s in inspection.signatures],
        "dump_layout": inspection.dump_layout,
    }


def _node_to_json(node: Node) -> dict[str, Any]:
    flash = None if node.flash is None else [node.flash.listed, node.flash.code, node.flash.data]
    return {"path": node.path, "name": node.name, "role": node.role, "size": node.size, "sha256": node.sha256,
            "format": node.format, "kind": node.kind, "mode": node.mode, "link": node.link, "note": node.note,
            "problem": node.problem, "vendor_signed": node.vendor_signed, "flash": flash,
            "children": [_node_to_json(c) for c in node.children]}


def inspection_from_json(doc: Any) -> Inspection:
    if not isinstance(doc, dict):
        raise WireError("the inspection is not an object")
    findings = [Finding(_str(f[0]), _str(f[1]), _str(f[2]), _opt(f[3]), _opt(f[4]))
                for f in _list(doc.get("findings")) if _is_row(f, 5)]
    signatures = [VendorSignature(_str(s.get("scheme")), _str(s.get("covers")), _str(s.get("signer")),
                                  _str(s.get("status")), _str(s.get("path")))
                  for s in _list(doc.get("signatures")) if isinstance(s, dict)]
    if any(s.status not in ("valid", "invalid", "unknown-key", "missing") for s in signatures):
        raise WireError("a signature has an unknown status")
    return Inspection(_str(doc.get("file")), _node_from_json(doc.get("root"), 0), findings, signatures,
                      _opt(doc.get("dump_layout")))


def _node_from_json(raw: Any, depth: int) -> Node:
    if not isinstance(raw, dict) or depth > 64:
        raise WireError("a node is not an object (or nests too deep)")
    flash = raw.get("flash")
    region = None
    if flash is not None:
        if not _is_row(flash, 3) or not isinstance(flash[0], bool):
            raise WireError("a flash region is malformed")
        region = FlashRegion(flash[0], _str(flash[1]), _str(flash[2]))
    vendor_signed = raw.get("vendor_signed")
    if not isinstance(vendor_signed, bool):
        raise WireError("vendor_signed is not a boolean")
    return Node(path=_str(raw.get("path")), name=_str(raw.get("name")), role=_str(raw.get("role")),
                size=_int(raw.get("size")), sha256=_str(raw.get("sha256")), format=_opt(raw.get("format")),
                kind=_str(raw.get("kind")), mode=_int(raw.get("mode")), link=_str(raw.get("link")),
                note=_str(raw.get("note")), problem=_opt(raw.get("problem")), vendor_signed=vendor_signed,
                flash=region, children=[_node_from_json(c, depth + 1) for c in _list(raw.get("children"))])


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise WireError(f"expected text, got {type(value).__name__}")
    return value


def _opt(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WireError("expected a non-negative integer")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise WireError("expected a list")
    return value


def _is_row(value: Any, n: int) -> bool:
    if not isinstance(value, list) or len(value) != n:
        raise WireError("a row has the wrong shape")
    return True
