"""How PostgreSQL's COPY must render each column type to write exactly what Python's csv writer writes."""

from __future__ import annotations

# PostgreSQL type OIDs whose COPY text equals str() of what psycopg/psycopg2 return for them.
_RAW_OIDS = {20, 21, 23, 26, 1082, 2950}  # int8, int2, int4, oid, date, uuid
_TEXT_OIDS = {25, 1043, 19}  # text, varchar, name (not bpchar: NULLIF would blank padded values)
_NUMERIC_OID, _BOOL_OID, _TIMESTAMP_OID, _TIMESTAMPTZ_OID = 1700, 16, 1114, 1184
_MAX_PLAIN_DECIMAL_SCALE = 6  # str(Decimal) switches to exponent notation below 1E-6


def copy_column(ident: str, oid: int, scale: int | None) -> str | None:
    """The SELECT expression that makes COPY write column ``ident`` as the csv writer would, or None if impossible."""
    col = f"_af_q.{ident}"
    if oid in _RAW_OIDS:
        return col
    if oid in _TEXT_OIDS:
        # csv writes '' and None alike (empty, unquoted); COPY would quote ''. As NULL, COPY writes it empty too.
        return f"NULLIF({col}, '')"
    if oid == _NUMERIC_OID and scale is not None and 0 <= scale <= _MAX_PLAIN_DECIMAL_SCALE:
        return col
    if oid == _BOOL_OID:
        return f"CASE WHEN {col} THEN 'True' WHEN NOT {col} THEN 'False' END"
    if oid == _TIMESTAMP_OID:
        # str(datetime) is ISO text, plus '.ffffff' only when there are microseconds; PostgreSQL's ISO text trims
        # trailing zeros. Whole seconds keep the (fast) native text, as do the values drivers cannot load at all
        # (infinity, BC), which the generic path would fail on.
        # '::timestamp(0) =' tests for whole seconds on the integer value (date_trunc would decompose it: ~2x slower).
        return (
            f"CASE WHEN {col}::timestamp(0) = {col} OR {col} < '0001-01-01' THEN {col}::text "
            f"ELSE to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US') END"
        )
    if oid == _TIMESTAMPTZ_OID:
        # As above, then the offset as '+HH:MM' (PostgreSQL writes '+HH' for whole hours) and ':SS' if any.
        offset = f"extract(timezone from {col})::int"
        stamp = (
            f"to_char({col}, 'YYYY-MM-DD HH24:MI:SS') || "
            f"CASE WHEN {col}::timestamptz(0) = {col} THEN '' ELSE to_char({col}, '.US') END || "
            f"to_char({col}, 'TZH:TZM') || "
            f"CASE WHEN {offset} % 60 = 0 THEN '' ELSE ':' || lpad(abs({offset} % 60)::text, 2, '0') END"
        )
        plain = f"isfinite({col}) AND extract(year from {col}) BETWEEN 1 AND 9999"
        return f"CASE WHEN {col} IS NULL THEN NULL WHEN {plain} THEN {stamp} ELSE {col}::text END"
    return None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_char(char: str) -> str:
    return "E'\\t'" if char == "\t" else f"'{char}'"
