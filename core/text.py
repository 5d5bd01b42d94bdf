"""Counts written as people read them: "1 image", "2 images", "1,024 images", "1 class", "3 classes"."""
from __future__ import annotations

# "-ch" said as k takes a plain s ("epochs", "stomachs"), unlike "batches"
_IRREGULAR = {"class": "classes", "patient": "patients", "series": "series", "child": "children", "epoch": "epochs",
              "stomach": "stomachs"}


def plural(noun: str) -> str:
    """The plural of a short English noun as used on MedLab's pages ("image" -> "images", "class" -> "classes")."""
    if noun in _IRREGULAR:
        return _IRREGULAR[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"


def counted(count: int, noun: str, plural_form: str | None = None) -> str:
    """`count` with its noun in the right number and a thousands separator: counted(1, "image") -> "1 image"."""
    word = noun if count == 1 else (plural_form or plural(noun))
    return f"{count:,} {word}"
