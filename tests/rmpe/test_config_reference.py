"""docs/configuration.md is generated from the config dataclasses and must match them."""
import dataclasses
import typing

from rmpe.config import Config
from rmpe.config_reference import PAGE, field_docs, render


def _keys(cls, prefix=""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _keys(hints[f.name], f"{prefix}{f.name}.")
        else:
            yield prefix + f.name


def test_page_is_up_to_date():
    assert PAGE.is_file(), "docs/configuration.md is missing: run python -m rmpe.config_reference --write"
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is out of date: run python -m rmpe.config_reference --write")


def test_every_key_is_listed():
    text = render()
    keys = list(_keys(Config))
    assert len(keys) > 80
    for key in keys:
        assert f"| `{key}` |" in text, key


def test_field_docs_reads_inline_and_preceding_comments():
    @dataclasses.dataclass
    class Example:
        a: int = 1  #: inline text
        #: first line
        #: second line
        b: float = 2.0
        c: str = "x"

    docs = field_docs(Example)
    assert docs == {"a": "inline text", "b": "first line second line"}
