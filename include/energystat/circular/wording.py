"""The circular's wording file (YAML of Jinja snippets) and how a snippet becomes text.

The file is edited by non-programmers (see the comments at its top and docs/circular.md); a missing key or a
misspelt placeholder fails with the file and the key named, not with a half-written document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from energystat.circular import fmt


class WordingError(ValueError):
    """The wording file is malformed, lacks a key or uses an unknown placeholder."""


class Wording:
    def __init__(self, path: Path) -> None:
        import jinja2
        import yaml

        self.path = path
        try:
            self.data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise WordingError(f"circular wording file {path} cannot be read: {exc}") from exc
        if not isinstance(self.data, dict):
            raise WordingError(f"circular wording file {path}: expected a mapping at the top")
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.env.filters.update(fmt.FILTERS)

    def raw(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise WordingError(f"circular wording file {self.path}: key {key!r} is missing")
            node = node[part]
        return node

    def text(self, key: str, **context: Any) -> str:
        """The snippet at `key` (dotted path) rendered with `context`, stripped."""
        import jinja2

        source = self.raw(key)
        if not isinstance(source, str):
            raise WordingError(f"circular wording file {self.path}: key {key!r} must be text")
        try:
            return self.env.from_string(source).render(**context).strip()
        except jinja2.TemplateError as exc:
            raise WordingError(f"circular wording file {self.path}, key {key!r}: {exc}") from exc

    def paragraphs(self, key: str, **context: Any) -> list[str]:
        """The snippet split into paragraphs at blank lines (lines within one are joined)."""
        text = self.text(key, **context)
        # Chinese text has no spaces between words: lines of one paragraph are joined without one.
        blocks = ["".join(line.strip() for line in block.splitlines()) for block in text.split("\n\n")]
        return [b for b in blocks if b]
