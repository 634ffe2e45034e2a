from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.erase_request import EraseRequest
from ...models.erasure_answer import ErasureAnswer
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    body: EraseRequest | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/end-users/{id}/erase".format(
            id=quote(str(id), safe=""),
        ),
    }

    if not isinstance(body, Unset):
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErasureAnswer | ErrorBody | None:
    if response.status_code == 200:
        response_200 = ErasureAnswer.from_dict(response.json())

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

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

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
) -> Response[ErasureAnswer | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    body: EraseRequest | Unset = UNSET,
) -> Response[ErasureAnswer | ErrorBody]:
    """Erase an end user: revoke (best effort) and delete every connection with its
    credentials, remove the payloads of the events routed to them, delete flows in
    progress, strip consent records of personal data, and keep an audit row with the
    keyed hash of the id and counts. Idempotent; `dry_run` lists what would go.

    Args:
        id (str):
        body (EraseRequest | Unset): Options of an erasure; the body may be omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErasureAnswer | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    body: EraseRequest | Unset = UNSET,
) -> ErasureAnswer | ErrorBody | None:
    """Erase an end user: revoke (best effort) and delete every connection with its
    credentials, remove the payloads of the events routed to them, delete flows in
    progress, strip consent records of personal data, and keep an audit row with the
    keyed hash of the id and counts. Idempotent; `dry_run` lists what would go.

    Args:
        id (str):
        body (EraseRequest | Unset): Options of an erasure; the body may be omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErasureAnswer | ErrorBody
    """

    return sync_detailed(
        id=id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    body: EraseRequest | Unset = UNSET,
) -> Response[ErasureAnswer | ErrorBody]:
    """Erase an end user: revoke (best effort) and delete every connection with its
    credentials, remove the payloads of the events routed to them, delete flows in
    progress, strip consent records of personal data, and keep an audit row with the
    keyed hash of the id and counts. Idempotent; `dry_run` lists what would go.

    Args:
        id (str):
        body (EraseRequest | Unset): Options of an erasure; the body may be omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErasureAnswer | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    body: EraseRequest | Unset = UNSET,
) -> ErasureAnswer | ErrorBody | None:
    """Erase an end user: revoke (best effort) and delete every connection with its
    credentials, remove the payloads of the events routed to them, delete flows in
    progress, strip consent records of personal data, and keep an audit row with the
    keyed hash of the id and counts. Idempotent; `dry_run` lists what would go.

    Args:
        id (str):
        body (EraseRequest | Unset): Options of an erasure; the body may be omitted.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErasureAnswer | ErrorBody
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
