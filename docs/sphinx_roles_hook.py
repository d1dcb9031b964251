"""MkDocs hook: render Sphinx roles left in docstrings (``:class:`X```) as plain code.

The docstrings use Sphinx cross-reference roles, which mkdocstrings does not interpret: they
would show up as ``:class:X`` in the API reference. This hook drops the role and, for the
``~a.b.C`` form, keeps the last component, as Sphinx displays it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj|const):(<code[^>]*>)(~?)([^<]*)</code>"
)


def _plain(match: re.Match[str]) -> str:
    tag, tilde, target = match.groups()
    shown = target.rsplit(".", 1)[-1] if tilde else target
    return f"{tag}{shown}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Replace every role-prefixed inline code span in a rendered page."""
    return _ROLE.sub(_plain, html)
