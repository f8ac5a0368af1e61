"""ferry.v1.Indices: translates protobuf to index store calls (see indices_convert)."""

from __future__ import annotations

from fnmatch import fnmatchcase

import grpc

from ferry.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from ferry.store import FollowerIndex, IndexInfo, Query, Schema, SchemaConflict, Store
from ferry.v1 import indices_pb2 as pb
from ferry.v1 import indices_pb2_grpc
from services.coordinator import indices_convert as convert

Ctx = grpc.aio.ServicerContext

DEFAULT_LIST_PAGE = 100
MAX_LIST_PAGE = 1000
MAX_PATTERN_CHARS = 512
"""MAX_PATTERN_CHARS bounds List's glob: translating one takes time quadratic in its "["s."""


class NoIndexStore(FailedPrecondition):
    """NoIndexStore says this coordinator was started without --store-url."""

    def __init__(self) -> None:
        super().__init__(
            "no index store configured (--store-url)", type="STORE", subject="store_url"
        )


class SchemaVersionChanged(Aborted):
    """SchemaVersionChanged is a schema update that lost a race or expected another version."""

    def __init__(self, index: str, expected: int, actual: int) -> None:
        FailedPrecondition.__init__(
            self,
            f"index {index!r}: expected schema version {expected} but it is {actual}",
            type="SCHEMA_VERSION",
            subject=f"index/{index}",
        )


class IndicesServicer(indices_pb2_grpc.IndicesServicer):
    """IndicesServicer serves the index store on every replica; ``store`` None means none
    configured, and every RPC then fails with FAILED_PRECONDITION."""

    def __init__(self, store: Store | None) -> None:
        self._configured = store

    @property
    def _store(self) -> Store:
        if self._configured is None:
            raise NoIndexStore()
        return self._configured

    async def _index(self, info: IndexInfo) -> pb.Index:
        stats = await self._store.shard_stats(info.spec.name)
        return convert.index_to_proto(info, sum(s.docs for s in stats))

    async def Create(self, request: pb.CreateIndexRequest, context: Ctx) -> pb.Index:
        spec = convert.index_spec(request)
        with convert.request_paths({"shards": "shard_count"}):
            info = await self._store.create_index(spec)
        return convert.index_to_proto(info, 0)

    async def Get(self, request: pb.GetIndexRequest, context: Ctx) -> pb.Index:
        name = convert.index_name(request.name, "name")
        return await self._index(await self._store.get_index(name))

    async def List(self, request: pb.ListIndicesRequest, context: Ctx) -> pb.ListIndicesResponse:
        if not 0 <= request.page_size <= MAX_LIST_PAGE:
            raise InvalidArgument.field("page_size", f"must be between 0 and {MAX_LIST_PAGE}")
        if request.page_token:
            convert.index_name(request.page_token, "page_token")
        if len(request.pattern) > MAX_PATTERN_CHARS:
            raise InvalidArgument.field(
                "pattern", f"must be at most {MAX_PATTERN_CHARS} characters"
            )
        size = request.page_size or DEFAULT_LIST_PAGE
        pattern = request.pattern or "*"
        after = [
            info
            for info in await self._store.list_indices()
            if info.spec.name > request.page_token and fnmatchcase(info.spec.name, pattern)
        ]
        response = pb.ListIndicesResponse()
        for info in after[:size]:
            try:
                response.indices.append(await self._index(info))
            except NotFound:
                continue  # deleted since it was listed
        if len(after) > size:
            response.next_page_token = after[size - 1].spec.name
        return response

    async def Delete(self, request: pb.DeleteIndexRequest, context: Ctx) -> pb.DeleteIndexResponse:
        await self._store.delete_index(convert.index_name(request.name, "name"))
        return pb.DeleteIndexResponse()

    async def UpdateSchema(self, request: pb.UpdateIndexSchemaRequest, context: Ctx) -> pb.Index:
        name = convert.index_name(request.name, "name")
        added = convert.schema_fields(request.fields, "fields")
        if request.expected_version < 0:
            raise InvalidArgument.field("expected_version", "must not be negative (0 means any)")
        info = await self._store.get_index(name)
        if info.spec.follower:
            raise FollowerIndex(name)
        current = info.spec.schema
        if request.expected_version and request.expected_version != current.version:
            raise SchemaVersionChanged(name, request.expected_version, current.version)
        if all(current.fields.get(path) == kind for path, kind in added.items()):
            return await self._index(info)  # nothing new: the version stays
        schema = Schema(fields={**current.fields, **added}, version=current.version + 1)
        try:
            updated = await self._store.update_schema(name, schema)
        except SchemaConflict:
            # The store refuses a version that is not above its own: someone else
            # updated since we read. That is a lost race (ABORTED, retry), not a conflict.
            latest = (await self._store.get_index(name)).spec.schema.version
            if latest != current.version:
                raise SchemaVersionChanged(name, current.version, latest) from None
            raise
        return await self._index(updated)

    async def Stats(self, request: pb.IndexStatsRequest, context: Ctx) -> pb.IndexStats:
        name = convert.index_name(request.name, "name")
        shards = await self._store.shard_stats(name)
        leases = await self._store.retention_leases(name)
        return convert.index_stats(name, shards, leases)

    async def Bulk(self, request: pb.BulkRequest, context: Ctx) -> pb.BulkResponse:
        name = convert.index_name(request.index, "index")
        ops = convert.write_ops(request.operations)
        fence = convert.fence(request)
        with convert.request_paths(convert.BULK_PATHS):
            result = await self._store.bulk(name, ops, fence=fence)
        return convert.bulk_response(result)

    async def GetDocument(self, request: pb.GetDocumentRequest, context: Ctx) -> pb.Document:
        name = convert.index_name(request.index, "index")
        if not request.id:
            raise InvalidArgument.field("id", "is required")
        with convert.request_paths({"doc_id": "id"}):
            doc = await self._store.get(name, request.id)
        if doc is None:
            raise NotFound("document", f"{name}/{request.id}")
        return convert.document_to_proto(doc)

    async def MultiGet(self, request: pb.MultiGetRequest, context: Ctx) -> pb.MultiGetResponse:
        name = convert.index_name(request.index, "index")
        for i, doc_id in enumerate(request.ids):
            if not doc_id:
                raise InvalidArgument.field(f"ids[{i}]", "is required")
        with convert.request_paths({"doc_ids": "ids"}):
            docs = await self._store.multi_get(name, list(request.ids))
        response = pb.MultiGetResponse()
        for doc_id, doc in zip(request.ids, docs, strict=True):
            item = response.items.add(id=doc_id, found=doc is not None)
            if doc is not None:
                item.document.CopyFrom(convert.document_to_proto(doc))
        return response

    async def _checked_query(
        self, name: str, filters: list[pb.Filter], match: pb.MatchQuery
    ) -> Query:
        query = convert.query(filters, match)
        if match.fields:
            convert.check_match_fields(match, (await self._store.get_index(name)).spec.schema)
        return query

    async def Search(self, request: pb.SearchRequest, context: Ctx) -> pb.SearchResponse:
        name = convert.index_name(request.index, "index")
        query = await self._checked_query(name, list(request.filters), request.match)
        sort = convert.sort(request.sort)
        size = convert.page_size(request.page_size)
        cursor = convert.store_cursor(request)
        with convert.request_paths(convert.SEARCH_PATHS):
            page = await self._store.search(name, query, sort=sort, size=size, cursor=cursor)
        return pb.SearchResponse(
            hits=[pb.SearchHit(document=convert.document_to_proto(d)) for d in page.hits],
            next_page_token=convert.page_token(request, page.next_cursor),
        )

    async def Count(self, request: pb.CountRequest, context: Ctx) -> pb.CountResponse:
        name = convert.index_name(request.index, "index")
        query = await self._checked_query(name, list(request.filters), request.match)
        with convert.request_paths(convert.SEARCH_PATHS):
            count = await self._store.count(name, query)
        return pb.CountResponse(count=count)
