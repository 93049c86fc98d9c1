"""The CSV options of ``db_extract_stream`` (top-level keys over ``file:`` keys over defaults) and its CSV writer."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from aetherflow.steps.db_output import AtomicOutput, LineBuffer, RowTally
from aetherflow.steps.db_values import DtypeSniffer

if TYPE_CHECKING:
    from aetherflow.steps.db import Batches, DbExtractStreamInputs

_QUOTING: dict[str, Literal[0, 1, 2, 3]] = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "none": csv.QUOTE_NONE,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
}
_CSV_KEYS = ("encoding", "delimiter", "quotechar", "escapechar", "doublequote", "quoting", "linefeed", "include_header")
BOOL_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in BOOL_TEXT:
        return BOOL_TEXT[value.strip().lower()]
    raise ValueError(f"db_extract_stream {key} must be a boolean (true/false), got {value!r}")


class CsvOptions:
    """The effective CSV options of ``db_extract_stream``: top-level keys over ``file:`` keys over defaults."""

    def __init__(self, inputs: DbExtractStreamInputs, fmt: str) -> None:
        nested = dict(inputs.file or {})
        unknown = sorted(set(nested) - set(_CSV_KEYS))
        if unknown:
            raise ValueError(f"db_extract_stream file: unknown key(s) {unknown}; allowed: {list(_CSV_KEYS)}")
        given = inputs.model_fields_set

        def pick(key: str) -> Any:
            if key in given or key not in nested:
                return getattr(inputs, key)
            return nested[key]

        self.encoding = str(pick("encoding"))
        delimiter = pick("delimiter")
        self.delimiter = ("\t" if fmt == "tsv" else ",") if delimiter is None else str(delimiter)
        quotechar = pick("quotechar")
        self.quotechar = None if quotechar is None else str(quotechar)
        escapechar = pick("escapechar")
        self.escapechar = None if escapechar in (None, "") else str(escapechar)
        self.doublequote = _as_bool("doublequote", pick("doublequote"))
        self.include_header = _as_bool("include_header", pick("include_header"))
        quoting = str(pick("quoting")).strip().lower()
        if quoting not in _QUOTING:
            raise ValueError(f"db_extract_stream unsupported quoting: {quoting}. Use one of: {', '.join(_QUOTING)}")
        self.quoting = quoting
        self.linefeed = str(pick("linefeed"))
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"db_extract_stream unknown encoding: {self.encoding}") from None

    def writer(self, target: Any) -> Any:
        """A ``csv.writer`` with these options; a bad combination is a ValueError naming the options."""
        try:
            return csv.writer(
                target,
                delimiter=self.delimiter,
                quotechar=self.quotechar,
                escapechar=self.escapechar,
                doublequote=self.doublequote,
                quoting=_QUOTING[self.quoting],
                lineterminator=self.linefeed,
            )
        except (TypeError, csv.Error) as exc:
            raise ValueError(f"db_extract_stream invalid CSV options: {exc}") from None

    @property
    def copy_compatible(self) -> bool:
        """Whether PostgreSQL COPY's CSV output is byte-identical to the csv writer's with these options."""
        return (
            self.quoting == "minimal"
            and self.quotechar == '"'
            and self.escapechar is None
            and self.doublequote
            and self.linefeed == "\n"
            and codecs.lookup(self.encoding).name == "utf-8"  # not utf-8-sig: COPY writes no BOM
        )


def given_dtypes(inputs: DbExtractStreamInputs) -> dict[str, str]:
    raw: Any = inputs.dtypes
    if raw is None and inputs.dtypes_json not in (None, ""):
        try:
            raw = json.loads(str(inputs.dtypes_json))
        except json.JSONDecodeError as exc:
            raise ValueError(f"dtypes_json is not valid JSON: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("dtypes must be a dict (mapping column -> type)")
    return {str(k): str(v).strip().lower() for k, v in raw.items()}


def write_csv(
    out: AtomicOutput, options: CsvOptions, columns: list[str], batches: Batches, tally: RowTally
) -> dict[str, str]:
    """Write the header (if asked) and every batch with the csv writer; returns the dtypes sniffed on the way."""
    lines = LineBuffer()
    writer = options.writer(lines)
    if options.include_header and columns:
        writer.writerow(columns)
    writerows = writer.writerows
    sniffer = DtypeSniffer(columns)
    for batch in batches:
        if not sniffer.done:
            sniffer.observe(batch)
        writerows(batch)
        lines.flush_to(out.binary, options.encoding)
        tally.batch(len(batch))
    lines.flush_to(out.binary, options.encoding)
    return sniffer.dtypes()
