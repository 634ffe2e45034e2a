from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.disconnect_body import DisconnectBody
from ...models.disconnect_result import DisconnectResult
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    integration: str,
    *,
    body: DisconnectBody,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/integrations/{integration}/disconnect".format(
            integration=quote(str(integration), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DisconnectResult | ErrorBody | None:
    if response.status_code == 200:
        response_200 = DisconnectResult.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[DisconnectResult | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    integration: str,
    *,
    client: AuthenticatedClient,
    body: DisconnectBody,
) -> Response[DisconnectResult | ErrorBody]:
    """Disconnect: revoke at the provider (RFC 7009 or its own way), then delete the
    credentials (also when the provider's revocation failed; the answer says so).

    Args:
        integration (str):
        body (DisconnectBody): Body of a disconnect.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DisconnectResult | ErrorBody]
    """

    kwargs = _get_kwargs(
        integration=integration,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    integration: str,
    *,
    client: AuthenticatedClient,
    body: DisconnectBody,
) -> DisconnectResult | ErrorBody | None:
    """Disconnect: revoke at the provider (RFC 7009 or its own way), then delete the
    credentials (also when the provider's revocation failed; the answer says so).

    Args:
        integration (str):
        body (DisconnectBody): Body of a disconnect.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DisconnectResult | ErrorBody
    """

    return sync_detailed(
        integration=integration,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    integration: str,
    *,
    client: AuthenticatedClient,
    body: DisconnectBody,
) -> Response[DisconnectResult | ErrorBody]:
    """Disconnect: revoke at the provider (RFC 7009 or its own way), then delete the
    credentials (also when the provider's revocation failed; the answer says so).

    Args:
        integration (str):
        body (DisconnectBody): Body of a disconnect.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DisconnectResult | ErrorBody]
    """

    kwargs = _get_kwargs(
        integration=integration,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    integration: str,
    *,
    client: AuthenticatedClient,
    body: DisconnectBody,
) -> DisconnectResult | ErrorBody | None:
    """Disconnect: revoke at the provider (RFC 7009 or its own way), then delete the
    credentials (also when the provider's revocation failed; the answer says so).

    Args:
        integration (str):
        body (DisconnectBody): Body of a disconnect.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DisconnectResult | ErrorBody
    """

    return (
        await asyncio_detailed(
            integration=integration,
            client=client,
            body=body,
        )
    ).parsed
