from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.o_auth_test_result import OAuthTestResult
from ...types import Response


def _get_kwargs(
    integration: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/integrations/{integration}/oauth-test".format(
            integration=quote(str(integration), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | OAuthTestResult | None:
    if response.status_code == 200:
        response_200 = OAuthTestResult.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | OAuthTestResult]:
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
) -> Response[ErrorBody | OAuthTestResult]:
    """Check an integration's OAuth set-up: the endpoints answer and the client
    credentials are accepted (a bogus code must give `invalid_grant`, not
    `invalid_client`).

    Args:
        integration (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | OAuthTestResult]
    """

    kwargs = _get_kwargs(
        integration=integration,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    integration: str,
    *,
    client: AuthenticatedClient,
) -> ErrorBody | OAuthTestResult | None:
    """Check an integration's OAuth set-up: the endpoints answer and the client
    credentials are accepted (a bogus code must give `invalid_grant`, not
    `invalid_client`).

    Args:
        integration (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | OAuthTestResult
    """

    return sync_detailed(
        integration=integration,
        client=client,
    ).parsed


async def asyncio_detailed(
    integration: str,
    *,
    client: AuthenticatedClient,
) -> Response[ErrorBody | OAuthTestResult]:
    """Check an integration's OAuth set-up: the endpoints answer and the client
    credentials are accepted (a bogus code must give `invalid_grant`, not
    `invalid_client`).

    Args:
        integration (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | OAuthTestResult]
    """

    kwargs = _get_kwargs(
        integration=integration,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    integration: str,
    *,
    client: AuthenticatedClient,
) -> ErrorBody | OAuthTestResult | None:
    """Check an integration's OAuth set-up: the endpoints answer and the client
    credentials are accepted (a bogus code must give `invalid_grant`, not
    `invalid_client`).

    Args:
        integration (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | OAuthTestResult
    """

    return (
        await asyncio_detailed(
            integration=integration,
            client=client,
        )
    ).parsed
