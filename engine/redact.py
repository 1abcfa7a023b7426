"""Masking secrets in text shown to people: URLs, key fragments, secret-looking values.

Pure helpers (no I/O, no engine): settings errors, provider errors and reprs use them.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

FRAGMENT = 8
"""A run of this many characters of a key (or more) is masked wherever it appears."""

_SECRET_WORDS = frozenset(
    (
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "bearer",
    )
)

_KEY_PREFIX = re.compile(
    r"^(sk|pk|rk)[-_]|^(sk-ant|sk-proj|ghp|gho|ghs|github_pat|glpat|hf|xox[abprs])[-_]"
    r"|^AKIA[0-9A-Z]{12}|^AIza",
)
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_\-.+/=~]+$")


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: ``user:secret@`` becomes
    ``user:***@`` (the user name kept), a ``password=`` query value becomes ``***``, and
    credentials that are one token (``https://sk-...@host``) go too. The one URL
    redactor of engine and panel.

    Credentials end at the *last* ``@``: a password holding ``@``, ``/``, ``?`` or ``#``
    unencoded (people write them so) is masked whole instead of split where a URL parser
    would split it, at the price of over-masking the rare URL with ``@`` in its path.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _PASSWORD_PARAM.sub(_MASKED_PARAM, url)
    at = rest.rfind("@")
    if at >= 0:
        cred, rest = rest[:at], rest[at + 1 :]
        user, colon, _ = cred.partition(":")
        if colon:
            cred = f"{user}:{MASK}"
        elif looks_secret(cred):
            cred = MASK
        rest = f"{cred}@{rest}"
    return f"{scheme}://{_PASSWORD_PARAM.sub(_MASKED_PARAM, rest)}"


_PASSWORD_PARAM = re.compile(r"([?&]password=)[^&#]*", re.I)
_MASKED_PARAM = rf"\1{MASK}"


def secret_name(name: object) -> bool:
    """True for a field name that says it holds a secret: ``api_key``, ``apikey``,
    ``token``, ``x-auth-token``, ``clientSecret``, ``password`` (not ``tokens_out``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name)).lower()
    return any(w in _SECRET_WORDS for w in re.split(r"[^a-z0-9]+", text))


def looks_secret(value: object) -> bool:
    """True for a string shaped like a credential: a known key prefix (``sk-``, ``ghp_``,
    ``AKIA``...), or 20+ token characters mixing upper case, lower case and digits."""
    if not isinstance(value, str) or len(value) < 12 or not _TOKEN_CHARS.match(value):
        return False
    if _KEY_PREFIX.match(value):
        return True
    return (
        len(value) >= 20
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of a (nested) value for messages: anything under a secret-looking name,
    and any string that looks like a credential, becomes ``***``; URLs lose passwords."""
    if depth > 16:
        return MASK
    if isinstance(value, dict):
        return {
            k: (MASK if secret_name(k) and v is not None else redact_value(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, str):
        if looks_secret(value):
            return MASK
        return mask_url(value) if "://" in value else value
    if type(value).__name__ == "SecretStr":
        return MASK
    return value


def mask_fragments(text: str, key: str) -> str:
    """``text`` with every run of >= FRAGMENT characters of ``key`` replaced by ``***``
    (an upstream may echo part of a key, and a cut message may hold a piece of it)."""
    if len(key) < FRAGMENT or len(text) < FRAGMENT:
        return text
    grams = {key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1)}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i : i + FRAGMENT] in grams:
            j = i + FRAGMENT
            while j < n and text[i : j + 1] in key:
                j += 1
            out.append(MASK)
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def mask_secrets(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` (whole, and any FRAGMENT-long run of it) masked."""
    for secret in secrets:
        if len(secret) >= 4:
            text = mask_fragments(text.replace(secret, MASK), secret)
    return text
