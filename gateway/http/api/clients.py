"""/api/v1/clients: the caller's clients, without phone numbers."""

from __future__ import annotations

from aiohttp import web

from gateway.api_services import clients as client_service
from gateway.api_services.paging import DEFAULT_LIMIT
from gateway.http.api.auth import caller_of
from gateway.http.api.fields import Cursor, Limit, QueryModel
from gateway.http.api.parsing import context_of, parse_query
from gateway.http.api.rendering import render
from gateway.http.api.spec import EVERYONE, Operation, Reply


class ClientsQuery(QueryModel):
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


async def list_clients(request: web.Request) -> web.Response:
    query = parse_query(request, ClientsQuery)
    page = await client_service.list_clients(
        context_of(request), caller_of(request), limit=query.limit, cursor=query.cursor
    )
    return render(page)


OPERATIONS = (
    Operation(
        "GET",
        "/clients",
        list_clients,
        "The caller's clients (admins: all), newest first, without phone numbers",
        EVERYONE,
        {200: Reply("A page of clients", client_service.ClientPage)},
        query=ClientsQuery,
    ),
)
