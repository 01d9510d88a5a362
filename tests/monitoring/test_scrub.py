import pytest

from monitoring.scrub import scrub_secrets


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("Authorization: Bearer abcDEF123456ghi", "abcDEF123456ghi", "Authorization: Bearer ****"),
        ("header Authorization: Token os_AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrStUv", "Token ****"),
        ("token os_AbCdEfGhIjKlMnOpQrStUvWxYz01234 expired", "AbCdEfGhIjKlMnOpQrStUvWxYz", "expired"),
        ("OpenAI key sk-proj-Zx9Yw8Vu7Ts6 refused", "Zx9Yw8Vu7Ts6", "sk-****"),
        ("dsn postgresql://app:hunter2@db:5432/app", "hunter2", "postgresql://app:****@db:5432/app"),
        ("redis://:redis-pass@cache:6379/0 down", "redis-pass", "@cache:6379/0"),
        ("GET /search?q=x&api_key=abc123def&page=2", "abc123def", "page=2"),
        ('{"api_key": "k-1 2 3", "model": "gpt-4o"}', "k-1 2 3", '"model": "gpt-4o"'),
        ("{'password': 'correct horse', 'user': 'bob'}", "correct horse", "'user': 'bob'"),
        ("client_secret=s3cr3t-value;", "s3cr3t-value", "client_secret=****"),
    ],
)
def test_secrets_are_masked(text, secret, kept):
    scrubbed = scrub_secrets(text)
    assert secret not in scrubbed
    assert kept in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "run finished: prompt_tokens=120 completion_tokens=30 max_tokens=500",
        "the token budget is exceeded",
        "GET https://api.example.com/v1/models 200",
        "password reset requested for bob",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert scrub_secrets(text) == text
