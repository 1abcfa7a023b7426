"""engine.redact.mask_url: the one URL redactor (settings, Redis link, panel, errors)."""

from __future__ import annotations

import pytest

from flowdeck.engine.redact import mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("redis://app:s3cr3t@127.0.0.1:6379/2", "redis://app:***@127.0.0.1:6379/2"),
        ("unix:///tmp/r.sock?db=1&password=pw", "unix:///tmp/r.sock?db=1&password=***"),
        ("rediss://a:b@h/0?PASSWORD=x&ssl=1#f", "rediss://a:***@h/0?PASSWORD=***&ssl=1#f"),
        ("https://u:p@ss@x.io/v1", "https://u:***@x.io/v1"),  # the last @ ends credentials
        ("https://sk-abcdefghijklmnopqrstuvwx@x.io", "https://***@x.io"),  # a token alone
        ("redis://user@h", "redis://user@h"),
        ("redis://h:6379", "redis://h:6379"),
        ("https://x.io/v1?password=a&b=c", "https://x.io/v1?password=***&b=c"),
    ],
)
def test_passwords_never_show_and_the_rest_does(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize("secret", ["hunter2@hunter2/hunter2", "pa?ss#hunter", "a:b:hunter"])
def test_no_fragment_of_an_unencoded_password_survives(secret: str) -> None:
    shown = mask_url(f"redis://app:{secret}@db.local:6379/0")
    assert shown == "redis://app:***@db.local:6379/0"
