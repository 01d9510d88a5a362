"""Removes secrets from free text (log messages, tracebacks) before it is stored or printed.

What it recognises: Authorization headers and bearer/basic credentials, this project's API tokens
(`os_...`), OpenAI-style keys (`sk-...`), passwords in URLs (`scheme://user:password@host`) and
`key=value` / `"key": "value"` pairs whose key names a secret (api_key, password, secret, token, ...).
"""

import re

MASK = "****"

_SENSITIVE_NAMES = (
    r"(?:[a-z0-9]+[_-])*(?:api[_-]?key|apikey|access[_-]?key|password|passwd|pwd|secret|token|auth"
    r"|authorization|cookie)"
)

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)(?!\*{4})[A-Za-z0-9._~+/=-]{16,}"), rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)(?!\*{4})[A-Za-z0-9._~+/=-]+"), rf"\1\2{MASK}"),
    (re.compile(r"\bos_[A-Za-z0-9_-]{16,}"), f"os_{MASK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), f"sk-{MASK}"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{MASK}@"),
    # Quoted values may hold spaces: mask up to the closing quote.
    (
        re.compile(rf"(?i)\b({_SENSITIVE_NAMES})\b([\"']?\s*[:=]\s*)([\"'])(?!\*{{4}}\3)(?:\\.|(?!\3).)*\3"),
        rf"\1\2\3{MASK}\3",
    ),
    (
        re.compile(
            rf"(?i)\b({_SENSITIVE_NAMES})\b(\s*[:=]\s*)(?![\"'])(?!(?:bearer|basic|token)\s)(?!\*{{4}})[^\s&,;}}]+"
        ),
        rf"\1\2{MASK}",
    ),
)


def scrub_secrets(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
