from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.connection_body import ConnectionBody
from ...models.direct_connect_body import DirectConnectBody
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    *,
    body: DirectConnectBody,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/connections",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ConnectionBody | ErrorBody | None:
    if response.status_code == 201:
        response_201 = ConnectionBody.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if response.status_code == 502:
        response_502 = ErrorBody.from_dict(response.json())

        return response_502

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ConnectionBody | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: DirectConnectBody,
) -> Response[ConnectionBody | ErrorBody]:
    """Connect without a browser redirect: an API key or basic credentials (checked by the
    provider's verify request), a client-credentials token, a service account (JWT
    bearer grant, `settings.subject`; its own key in `credentials.private_key`, or the
    integration's) or a GitHub App installation (`settings.installation_id`).

    Args:
        body (DirectConnectBody): `POST /api/connections`. Example: {'connection_id': 'acme-cc-1',
            'integration': 'acme-cc'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ConnectionBody | ErrorBody]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: DirectConnectBody,
) -> ConnectionBody | ErrorBody | None:
    """Connect without a browser redirect: an API key or basic credentials (checked by the
    provider's verify request), a client-credentials token, a service account (JWT
    bearer grant, `settings.subject`; its own key in `credentials.private_key`, or the
    integration's) or a GitHub App installation (`settings.installation_id`).

    Args:
        body (DirectConnectBody): `POST /api/connections`. Example: {'connection_id': 'acme-cc-1',
            'integration': 'acme-cc'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ConnectionBody | ErrorBody
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: DirectConnectBody,
) -> Response[ConnectionBody | ErrorBody]:
    """Connect without a browser redirect: an API key or basic credentials (checked by the
    provider's verify request), a client-credentials token, a service account (JWT
    bearer grant, `settings.subject`; its own key in `credentials.private_key`, or the
    integration's) or a GitHub App installation (`settings.installation_id`).

    Args:
        body (DirectConnectBody): `POST /api/connections`. Example: {'connection_id': 'acme-cc-1',
            'integration': 'acme-cc'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ConnectionBody | ErrorBody]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: DirectConnectBody,
) -> ConnectionBody | ErrorBody | None:
    """Connect without a browser redirect: an API key or basic credentials (checked by the
    provider's verify request), a client-credentials token, a service account (JWT
    bearer grant, `settings.subject`; its own key in `credentials.private_key`, or the
    integration's) or a GitHub App installation (`settings.installation_id`).

    Args:
        body (DirectConnectBody): `POST /api/connections`. Example: {'connection_id': 'acme-cc-1',
            'integration': 'acme-cc'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ConnectionBody | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
