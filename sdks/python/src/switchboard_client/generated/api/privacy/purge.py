from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.purge_answer import PurgeAnswer
from ...models.purge_request import PurgeRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: PurgeRequest | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/retention/purge",
    }

    if not isinstance(body, Unset):
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | PurgeAnswer | None:
    if response.status_code == 200:
        response_200 = PurgeAnswer.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | PurgeAnswer]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: PurgeRequest | Unset = UNSET,
) -> Response[ErrorBody | PurgeAnswer]:
    """Remove the payloads (body, kept headers, mapped data) of events past their
    integration's `payload_retention_days`, now, up to `limit`; their metadata stays.
    The same work as the background sweep, in short transactions.

    Args:
        body (PurgeRequest | Unset): Options of `POST /api/retention/purge`; the body may be
            omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PurgeAnswer]
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
    body: PurgeRequest | Unset = UNSET,
) -> ErrorBody | PurgeAnswer | None:
    """Remove the payloads (body, kept headers, mapped data) of events past their
    integration's `payload_retention_days`, now, up to `limit`; their metadata stays.
    The same work as the background sweep, in short transactions.

    Args:
        body (PurgeRequest | Unset): Options of `POST /api/retention/purge`; the body may be
            omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PurgeAnswer
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: PurgeRequest | Unset = UNSET,
) -> Response[ErrorBody | PurgeAnswer]:
    """Remove the payloads (body, kept headers, mapped data) of events past their
    integration's `payload_retention_days`, now, up to `limit`; their metadata stays.
    The same work as the background sweep, in short transactions.

    Args:
        body (PurgeRequest | Unset): Options of `POST /api/retention/purge`; the body may be
            omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PurgeAnswer]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: PurgeRequest | Unset = UNSET,
) -> ErrorBody | PurgeAnswer | None:
    """Remove the payloads (body, kept headers, mapped data) of events past their
    integration's `payload_retention_days`, now, up to `limit`; their metadata stays.
    The same work as the background sweep, in short transactions.

    Args:
        body (PurgeRequest | Unset): Options of `POST /api/retention/purge`; the body may be
            omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PurgeAnswer
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
