"""``GET /assistant/api/info``: the settings the sidebar reads (model picker, upload limit)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def assistant_settings() -> dict[str, Any]:
    return {"allowed_models": ["anthropic:claude-test", "offline"],
            "max_upload_bytes": 12345, "max_message_chars": 678}


async def test_info_reports_the_default_model_and_limits(api: Any) -> None:
    status, _, body = await api("info")
    assert status == 200
    assert body == {"model": "anthropic:claude-test",
                    "allowed_models": ["anthropic:claude-test", "offline"],
                    "max_upload_bytes": 12345, "max_message_chars": 678}


async def test_info_needs_authentication(api: Any) -> None:
    status, _, body = await api("info", headers={"Authorization": "token wrong"})
    assert status == 403
    assert body["error"]["code"] == "forbidden"
