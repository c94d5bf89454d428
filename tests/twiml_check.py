"""Check TwiML against the grammar read from Twilio's SDK (elements, attributes, nesting)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

GRAMMARS = {
    kind: json.loads((Path(__file__).parent / "twilio" / f"twiml_{kind}_grammar.json").read_text())
    for kind in ("voice", "messaging")
}


def twiml_errors(document: str, kind: str = "voice") -> list[str]:
    """Return every way the document breaks the TwiML grammar (empty when it is valid)."""
    grammar: dict[str, Any] = GRAMMARS[kind]
    root = ET.fromstring(document)  # noqa: S314 - our own responses
    errors: list[str] = []
    if root.tag != "Response":
        errors.append(f"root is <{root.tag}>, not <Response>")

    def check(element: ET.Element) -> None:
        rules = grammar.get(element.tag)
        if rules is None:
            errors.append(f"<{element.tag}> is not a TwiML {kind} element")
            return
        for attribute in element.attrib:
            if attribute not in rules["attributes"]:
                errors.append(f"<{element.tag}> has no attribute {attribute!r}")
        if (element.text or "").strip() and not rules["text_body"]:
            errors.append(f"<{element.tag}> takes no text")
        for child in element:
            if child.tag not in rules["children"]:
                errors.append(f"<{child.tag}> may not be inside <{element.tag}>")
            check(child)

    check(root)
    return errors
