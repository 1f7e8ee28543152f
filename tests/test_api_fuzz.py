"""Every operation of the JSON API, called with generated values (from its own OpenAPI
schema, valid and invalid: huge numbers, odd strings, missing and extra fields) by a
signed-in lead: never a 5xx, always a JSON error naming what was wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from channels.web.app import create_app
from tests.harness import Harness


@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_generated_request_to_any_operation_is_answered_with_a_server_error(
    harness: Harness,
) -> None:
    _, token = harness.agent("Lee Lead", roles=("agent", "lead"))
    harness.open_by_api(token, "fake", "c-1")  # T-000001 exists, so some paths find a ticket
    raw = create_app(harness.ctx).openapi()
    schema = schemathesis.openapi.from_dict(raw)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation the fuzzer cannot read: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 20, "the API's schema lost its operations"
    strategies = [op.as_strategy() for op in operations]
    seen: dict[str, set[int]] = {}

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(data=st.data())
    def every_operation(data: Any) -> None:
        # A lead of its own per example: a generated request may revoke its token or
        # deactivate its agent, and that must not end the others' run.
        _, token = harness.agent(f"Lead {len(seen.get('runs', ()))}", roles=("agent", "lead"))
        seen.setdefault("runs", set()).add(len(seen["runs"]))
        for operation, strategy in zip(operations, strategies, strict=True):
            case = data.draw(strategy, label=operation.label)
            kwargs = case.as_transport_kwargs(base_url="http://testserver")
            headers = {
                k: v
                for k, v in (kwargs.get("headers") or {}).items()
                if k.lower() != "authorization"
            }
            headers["Authorization"] = f"Bearer {token}"
            response = harness.client.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                json=kwargs.get("json"),
                content=kwargs.get("data") if isinstance(kwargs.get("data"), bytes) else None,
                headers={k: str(v) for k, v in headers.items()},
            )
            seen.setdefault(operation.label, set()).add(response.status_code)
            where = (
                f"{operation.label}: {kwargs['method']} {kwargs['url']} -> {response.text[:300]}"
            )
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert response.json()["error"]["code"], where

    every_operation()
    seen.pop("runs")
    answered = {label: sorted(codes) for label, codes in seen.items()}
    assert all(codes != [401] for codes in answered.values()), answered
