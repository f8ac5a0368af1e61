"""Row writes that leader and follower writes share, inside the caller's transaction.

History rows go in with COPY; shard maxima, documents and their full-text words
are written from arrays, one statement each; deleting a document deletes its words.
"""

from __future__ import annotations

from typing import Any

from ferry.store._postgres_schema import DOCS_IN
from ferry.store.model import Schema, Stamp

_SET_SHARD_MAX = """
UPDATE ferry_shards s SET max_seq_no = v.max_seq_no, checkpoint = v.max_seq_no
FROM unnest($2::int[], $3::bigint[]) AS v(shard, max_seq_no)
WHERE s.index_id = $1 AND s.shard = v.shard
"""


OpRow = tuple[int, int, int, str, str, float, bytes | None]
"""OpRow is a ferry_ops row: index_id, shard, seq_no, kind, doc_id, write_time, source."""
_OP_COLUMNS = ["index_id", "shard", "seq_no", "kind", "doc_id", "write_time", "source"]
DOC_COLUMNS = ["index_id", "shard", "doc_id", "seq_no", "scope", "generation"]


async def copy_ops(conn: Any, rows: list[OpRow]) -> None:
    """copy_ops appends history rows with COPY: ~2.5 times the rate of an INSERT of arrays."""
    await conn.copy_records_to_table("ferry_ops", records=rows, columns=_OP_COLUMNS)


async def set_max_seq_nos(conn: Any, index_id: int, max_seq_nos: dict[int, int]) -> None:
    await conn.execute(_SET_SHARD_MAX, index_id, list(max_seq_nos), list(max_seq_nos.values()))


def words_sql(text_fields: list[str], j: str) -> str:
    """words_sql is the tsvector of a document's text fields, from its jsonb ``j``.

    Without positions: a match finds its words in any order. The paths
    are inlined: FIELD_PATH admits no quote, comma or brace.
    """
    values = ", ".join(f"{j} #>> '{{{','.join(f.split('.'))}}}'" for f in text_fields)
    return f"strip(to_tsvector('simple', concat_ws(' ', {values})))"


def _upsert_docs(*, only_newer: bool = False) -> str:
    """_upsert_docs writes documents' current ops and stamps: $1 index, $2 shards, $3 ids,
    $4 seq_nos, $5 scope, $6 generation."""
    return (
        "INSERT INTO ferry_docs (index_id, shard, doc_id, seq_no, scope, generation)"
        " SELECT $1, u.shard, u.doc_id, u.seq_no, $5, $6"
        " FROM unnest($2::int[], $3::text[], $4::bigint[]) AS u(shard, doc_id, seq_no)"
        " ON CONFLICT (index_id, shard, doc_id) DO UPDATE SET seq_no = EXCLUDED.seq_no,"
        " scope = EXCLUDED.scope, generation = EXCLUDED.generation"
        + (" WHERE ferry_docs.seq_no < EXCLUDED.seq_no" if only_newer else "")
    )


DocRow = tuple[int, str, int, bytes | None]
"""DocRow is a document to write: shard, id, seq_no of its current op, and that op's source."""


async def put_docs(
    conn: Any,
    index_id: int,
    docs: list[DocRow],
    *,
    stamp: Stamp | None = None,
    only_newer: bool = False,
) -> None:
    """put_docs inserts or updates documents (only to a newer op, with ``only_newer``)."""
    if docs:
        await conn.execute(
            _upsert_docs(only_newer=only_newer),
            index_id,
            [d[0] for d in docs],
            [d[1] for d in docs],
            [d[2] for d in docs],
            stamp.scope if stamp else None,
            stamp.generation if stamp else None,
        )


async def put_words(conn: Any, index_id: int, docs: list[DocRow], schema: Schema) -> None:
    """put_words keeps the full-text words of documents, for an index with text fields.

    A newer op's words replace an older one's, never the other way round.
    """
    text_fields = schema.text_fields()
    if not docs or not text_fields:
        return
    # OFFSET 0 keeps the subquery whole, so each source is parsed once.
    await conn.execute(
        "INSERT INTO ferry_words (index_id, shard, doc_id, seq_no, words)"
        f" SELECT $1, u.shard, u.doc_id, u.seq_no, {words_sql(text_fields, 'x.j')}"
        " FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bytea[])"
        " AS u(shard, doc_id, seq_no, source) CROSS JOIN LATERAL"
        " (SELECT convert_from(u.source, 'UTF8')::jsonb AS j OFFSET 0) AS x"
        " ON CONFLICT (index_id, shard, doc_id) DO UPDATE"
        " SET seq_no = EXCLUDED.seq_no, words = EXCLUDED.words"
        " WHERE ferry_words.seq_no < EXCLUDED.seq_no",
        index_id,
        [d[0] for d in docs],
        [d[1] for d in docs],
        [d[2] for d in docs],
        [d[3] for d in docs],
    )


async def delete_docs(conn: Any, index_id: int, shards: list[int], doc_ids: list[str]) -> None:
    """delete_docs removes documents and their words."""
    if doc_ids:
        await conn.execute(f"DELETE FROM ferry_docs WHERE {DOCS_IN}", index_id, shards, doc_ids)
        await conn.execute(f"DELETE FROM ferry_words WHERE {DOCS_IN}", index_id, shards, doc_ids)
