from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.integration_health_body import IntegrationHealthBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    integration: str,
    *,
    connection_id: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["connection_id"] = connection_id

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/integrations/{integration}/status".format(
            integration=quote(str(integration), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | IntegrationHealthBody | None:
    if response.status_code == 200:
        response_200 = IntegrationHealthBody.from_dict(response.json())

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

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | IntegrationHealthBody]:
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
    connection_id: str | Unset = UNSET,
) -> Response[ErrorBody | IntegrationHealthBody]:
    """Health of an integration, or of one of its connections.

    Args:
        integration (str):
        connection_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | IntegrationHealthBody]
    """

    kwargs = _get_kwargs(
        integration=integration,
        connection_id=connection_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    integration: str,
    *,
    client: AuthenticatedClient,
    connection_id: str | Unset = UNSET,
) -> ErrorBody | IntegrationHealthBody | None:
    """Health of an integration, or of one of its connections.

    Args:
        integration (str):
        connection_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | IntegrationHealthBody
    """

    return sync_detailed(
        integration=integration,
        client=client,
        connection_id=connection_id,
    ).parsed


async def asyncio_detailed(
    integration: str,
    *,
    client: AuthenticatedClient,
    connection_id: str | Unset = UNSET,
) -> Response[ErrorBody | IntegrationHealthBody]:
    """Health of an integration, or of one of its connections.

    Args:
        integration (str):
        connection_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | IntegrationHealthBody]
    """

    kwargs = _get_kwargs(
        integration=integration,
        connection_id=connection_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    integration: str,
    *,
    client: AuthenticatedClient,
    connection_id: str | Unset = UNSET,
) -> ErrorBody | IntegrationHealthBody | None:
    """Health of an integration, or of one of its connections.

    Args:
        integration (str):
        connection_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | IntegrationHealthBody
    """

    return (
        await asyncio_detailed(
            integration=integration,
            client=client,
            connection_id=connection_id,
        )
    ).parsed
