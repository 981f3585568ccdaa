"""Column profiles computed batch by batch, in memory bounded by the sketches, not the rows.

Each column gets an accumulator fed with Arrow arrays as the file streams past. Exact where the
bound allows (distinct values and top values up to DISTINCT_EXACT, quantiles and histograms up
to SAMPLE_SIZE values) and approximate beyond it, marked so in the result: a HyperLogLog for
distinct counts, and a uniform sample of SAMPLE_SIZE values for top values, quantiles and
histograms. Null counts, min, max, mean, standard deviation and lengths are always exact.

The bounds are in bytes too, shared by all the columns: a file of 2,000 columns, or of values a
megabyte long, turns approximate sooner instead of holding the file in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

DISTINCT_EXACT = 100_000
TOP_N = 10
SAMPLE_SIZE = 100_000
# What the exact distinct values and counts of all columns together, and the row sample, may
# hold. Bounded in values per column alone, they held whole files: 400 rows of 800 kB strings
# took 2.1 GB, 10,000 rows of 2,000 columns 620 MB. The sample's bound in cells (rows times
# columns) keeps a wide file's sample from costing more than its bytes say: each of its columns
# is a buffer of its own, copied at every cut.
PROFILE_BYTES = 32 * 1024 * 1024
SAMPLE_BYTES = 16 * 1024 * 1024
SAMPLE_CELLS = 2_000_000
SLICE_BYTES = 8 * 1024 * 1024  # how much of a column is counted or hashed at a time
BINS = 20
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
HLL_P = 14


def logical_type(arrow_type: pa.DataType) -> str:
    """Granary's name for an Arrow type (what the schema and the diff show)."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return logical_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp with zone" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"list<{logical_type(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f"{f.name}: {logical_type(f.type)}" for f in t) + ">"
    if pa.types.is_map(t):
        return f"map<{logical_type(t.key_type)}, {logical_type(t.item_type)}>"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def _kind(arrow_type: pa.DataType) -> str:
    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "temporal"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return "other"


class _HyperLogLog:
    def __init__(self) -> None:
        self.registers = np.zeros(1 << HLL_P, dtype=np.uint8)

    def add_hashes(self, hashes: np.ndarray) -> None:
        index = (hashes >> np.uint64(64 - HLL_P)).astype(np.int64)
        rest = (hashes << np.uint64(HLL_P)) | np.uint64((1 << HLL_P) - 1)
        # Position of the first set bit of the remaining bits, counted from 1.
        rank = (64 - np.floor(np.log2(rest.astype(np.float64))).astype(np.int64)).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)

    def estimate(self) -> int:
        m = float(len(self.registers))
        raw = (0.7213 / (1 + 1.079 / m)) * m * m / np.sum(np.power(2.0, -self.registers.astype(np.float64)))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))
        return round(raw)


def _slices(values: pa.Array | pa.ChunkedArray) -> Iterator[pa.Array | pa.ChunkedArray]:
    """`values` in slices (no copies) of about SLICE_BYTES each."""
    if values.nbytes <= SLICE_BYTES:
        yield values
        return
    rows = max(1, len(values) * SLICE_BYTES // values.nbytes)
    for start in range(0, len(values), rows):
        yield values.slice(start, rows)


def _hash(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    # polars hashes Arrow memory in place, about 25 times faster than pandas for strings.
    series = pl.Series(values=values)
    return series.hash(seed=0).to_numpy()


def column_profiles(schema: pa.Schema) -> list[ColumnProfile]:
    """A profile for each column of `schema`, sharing PROFILE_BYTES between them."""
    share = PROFILE_BYTES // max(1, len(schema))
    return [ColumnProfile(f.name, f.type, max_bytes=share) for f in schema]


class ColumnProfile:
    """Accumulates one column's statistics over the batches of a file."""

    def __init__(self, name: str, arrow_type: pa.DataType, *, max_bytes: int = PROFILE_BYTES) -> None:
        self.name = name
        self.type = arrow_type
        self.kind = _kind(arrow_type)
        self.max_bytes = max_bytes  # for the exact distinct values or counts
        self.exact_until = 0  # how many distinct values were known when counting turned approximate
        self.rows = 0
        self.nulls = 0
        self.min: Any = None
        self.max: Any = None
        self.len_min: int | None = None
        self.len_max: int | None = None
        # Running mean and sum of squared deviations, merged batch by batch (Chan et al.).
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.uniques: pa.Array | None = None  # exact distinct values while few
        self.hll: _HyperLogLog | None = None
        self.counts: pa.Table | None = None  # value -> count, exact while distinct <= bound
        self.sample: pa.Array | None = None
        self.low = math.inf  # min and max as numbers (days or time units for dates and times)
        self.high = -math.inf

    def add(self, column: pa.ChunkedArray | pa.Array) -> None:
        # Chunked arrays are profiled as they are: combining their chunks would copy every column.
        array = column
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        self.rows += len(array)
        self.nulls += array.null_count
        if self.kind == "other":
            return
        # In slices of at most SLICE_BYTES: the kernels below copy what they count or hash, and
        # a column of long strings was copied whole several times over at once.
        for part in _slices(array):
            if part.null_count < len(part):
                self._add(part.drop_null() if part.null_count else part)

    def _add(self, values: pa.ChunkedArray | pa.Array) -> None:
        self._min_max(values)
        if self.kind == "number":
            self._moments(values.cast(pa.float64(), safe=False))
        if self.kind in ("number", "temporal"):
            self._bounds(values)
        if self.hll is not None:
            self.hll.add_hashes(_hash(values))
        elif self.kind in ("string", "boolean"):
            self._top(values)
        else:
            self._distinct(values)
        if self.kind == "string":
            lengths = pc.min_max(pc.utf8_length(values))
            self.len_min = _lo(self.len_min, lengths["min"].as_py())
            self.len_max = _hi(self.len_max, lengths["max"].as_py())

    def _min_max(self, values: pa.Array) -> None:
        bounds = pc.min_max(values)
        self.min = _lo(self.min, bounds["min"].as_py())
        self.max = _hi(self.max, bounds["max"].as_py())

    def _moments(self, values: pa.Array) -> None:
        n = len(values)
        mean = pc.mean(values).as_py()
        m2 = pc.variance(values, ddof=0).as_py() * n
        if mean is None or not math.isfinite(mean):
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total

    def _distinct(self, values: pa.Array) -> None:
        """Exact distinct values while few; beyond DISTINCT_EXACT, a HyperLogLog estimate."""
        batch_unique = pc.unique(values)
        if self._too_many(self.uniques, batch_unique):
            return
        merged = batch_unique if self.uniques is None else pa.concat_arrays([self.uniques, batch_unique])
        self.uniques = pc.unique(merged)
        if len(self.uniques) > DISTINCT_EXACT or self.uniques.nbytes > self.max_bytes:
            self._estimate_from_now_on(self.uniques)

    def _top(self, values: pa.Array) -> None:
        """Exact value counts (and so distinct values) while few; then an estimate."""
        counted = pc.value_counts(values)
        if self._too_many(None if self.counts is None else self.counts["value"], counted.field("values")):
            return
        batch = pa.table(
            {"value": counted.field("values"), "count": counted.field("counts").cast(pa.int64())}
        )
        merged = batch if self.counts is None else pa.concat_tables([self.counts, batch])
        self.counts = (
            merged.group_by("value").aggregate([("count", "sum")]).rename_columns(["value", "count"])
        )
        if self.counts.num_rows > DISTINCT_EXACT or self.counts.nbytes > self.max_bytes:
            self._estimate_from_now_on(self.counts.column("value").combine_chunks())

    def _too_many(self, kept: pa.Array | pa.ChunkedArray | None, new: pa.Array) -> bool:
        """Whether this slice's distinct values alone are beyond the bounds: then the estimate
        starts at once, without merging them with those kept (which would copy them again)."""
        if len(new) <= DISTINCT_EXACT and new.nbytes <= self.max_bytes:
            return False
        self._estimate_from_now_on(new, *([] if kept is None else [kept]))
        return True

    def _estimate_from_now_on(self, *seen: pa.Array | pa.ChunkedArray) -> None:
        # Too many values to keep: seed a sketch with the ones kept so far, and let top values
        # come from the row sample.
        self.hll = _HyperLogLog()
        for values in seen:
            self.hll.add_hashes(_hash(values))
        self.exact_until = max(len(values) for values in seen)
        self.uniques = None
        self.counts = None

    def _bounds(self, values: pa.Array | pa.ChunkedArray) -> None:
        """The finite min and max as numbers: the range of the histogram."""
        t = values.type
        if pa.types.is_floating(t):
            bounds = pc.min_max(values)
            if not all(math.isfinite(bounds[k].as_py()) for k in ("min", "max")):
                bounds = pc.min_max(pc.filter(values, pc.is_finite(values)))
        elif pa.types.is_date32(t):
            bounds = pc.min_max(values.cast(pa.int32()))
        elif pa.types.is_date64(t) or pa.types.is_timestamp(t):
            bounds = pc.min_max(values.cast(pa.int64()))
        else:
            bounds = pc.min_max(values.cast(pa.float64(), safe=False))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and high is not None:
            self.low = min(self.low, float(low))
            self.high = max(self.high, float(high))

    def result(self, sample: pa.Array | None = None) -> dict[str, Any]:
        """The profile; `sample` is this column of the file's RowSample."""
        self.sample = sample.drop_null() if sample is not None else None
        non_null = self.rows - self.nulls
        out: dict[str, Any] = {
            "name": self.name,
            "type": logical_type(self.type),
            "count": non_null,
            "nulls": self.nulls,
            "null_fraction": self.nulls / self.rows if self.rows else 0.0,
        }
        if self.kind == "other" or non_null == 0:
            return out
        out["min"] = _json_value(self.min)
        out["max"] = _json_value(self.max)
        if self.hll is not None:
            out["distinct"] = {"value": max(self.hll.estimate(), self.exact_until), "approximate": True}
        elif self.uniques is not None:
            out["distinct"] = {"value": len(self.uniques), "approximate": False}
        elif self.counts is not None:
            out["distinct"] = {"value": self.counts.num_rows, "approximate": False}
        if self.kind == "number" and self.count:
            out["mean"] = self.mean
            out["std"] = math.sqrt(self.m2 / self.count)
        if self.kind == "string":
            out["length"] = {"min": self.len_min, "max": self.len_max}
        if self.counts is not None and self.hll is None:
            top = self.counts.take(
                pc.sort_indices(self.counts, sort_keys=[("count", "descending"), ("value", "ascending")])[
                    :TOP_N
                ]
            )
            out["top"] = {
                "values": [
                    {"value": _json_value(v), "count": c}
                    for v, c in zip(top["value"].to_pylist(), top["count"].to_pylist(), strict=True)
                ],
                "approximate": False,
            }
        elif self.kind in ("string", "boolean") and self.sample is not None:
            out["top"] = self._top_from_sample(non_null)
        if self.kind in ("number", "temporal") and self.sample is not None and len(self.sample):
            out.update(self._distribution(non_null))
        return out

    def _top_from_sample(self, non_null: int) -> dict[str, Any]:
        """Top values of a column with too many distinct values to count: estimated from the
        uniform sample, which holds every frequent value in proportion."""
        assert self.sample is not None
        counted = pc.value_counts(self.sample)
        table = pa.table({"value": counted.field("values"), "count": counted.field("counts")})
        top = table.take(
            pc.sort_indices(table, sort_keys=[("count", "descending"), ("value", "ascending")])[:TOP_N]
        )
        scale = non_null / max(1, len(self.sample))
        return {
            "values": [
                {"value": _json_value(v), "count": round(c * scale)}
                for v, c in zip(top["value"].to_pylist(), top["count"].to_pylist(), strict=True)
            ],
            "approximate": True,
        }

    def _distribution(self, non_null: int) -> dict[str, Any]:
        assert self.sample is not None
        sample = _as_numbers(self.sample)
        approximate = len(sample) < non_null
        quantiles = np.quantile(sample, list(QUANTILES.values()), method="linear")
        sample = sample[np.isfinite(sample)]
        if not len(sample):
            return {}
        low, high = self.low, self.high
        if high == low:
            edges = np.array([low, high])
            counts = np.array([len(sample)])
        else:
            counts, edges = np.histogram(sample, bins=BINS, range=(low, high))
        if approximate:  # scale the sample's counts to the column's
            counts = np.round(counts * (non_null / len(sample))).astype(np.int64)
        to_value = self._from_number
        return {
            "quantiles": {name: to_value(q) for name, q in zip(QUANTILES, quantiles, strict=True)},
            "histogram": {
                "edges": [to_value(edge) for edge in edges],
                "counts": [int(c) for c in counts],
                "approximate": approximate,
            },
            "sample_size": len(sample),
        }

    def _from_number(self, value: float) -> Any:
        if self.kind != "temporal":
            return float(value)
        t = self.type
        if pa.types.is_date32(t):
            return (np.datetime64(0, "D") + np.timedelta64(round(value), "D")).astype(str)
        unit: Any = t.unit if pa.types.is_timestamp(t) else "ms"
        stamp = np.datetime64(0, unit) + np.timedelta64(round(value), unit)
        text = str(stamp)
        return text + "Z" if pa.types.is_timestamp(t) and t.tz else text


def _as_numbers(values: pa.Array) -> np.ndarray:
    t = values.type
    if pa.types.is_date32(t):
        return values.cast(pa.int32()).to_numpy().astype(np.float64)
    if pa.types.is_date64(t) or pa.types.is_timestamp(t):
        return values.cast(pa.int64()).to_numpy().astype(np.float64)
    return values.cast(pa.float64(), safe=False).to_numpy()


def _lo(a: Any, b: Any) -> Any:
    return b if a is None else (a if b is None else min(a, b))


def _hi(a: Any, b: Any) -> Any:
    return b if a is None else (a if b is None else max(a, b))


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


class RowSample:
    """A uniform sample of a file's rows, shared by every column (bottom-k sampling: each row gets
    a random key and the k smallest keys win, whatever the batch sizes). Seeded, so the same file
    always gets the same profile.

    Rows that may still enter are buffered and cut back to k only when k + k/4 have gathered, so
    a row is copied a few times at most, not once per batch, and the buffer stays near k rows.
    Wide rows make k smaller, so that the sample holds about `max_bytes`: the smallest keys of a
    uniform sample are a uniform sample too."""

    def __init__(self, size: int = SAMPLE_SIZE, max_bytes: int = SAMPLE_BYTES, *, columns: int = 1) -> None:
        self.size = max(1, min(size, SAMPLE_CELLS // max(1, columns)))
        self.max_bytes = max_bytes
        self.rng = np.random.default_rng(20240101)
        self.parts: list[pa.Table] = []
        self.keys: list[np.ndarray] = []
        self.buffered = 0
        self.buffered_bytes = 0
        self.threshold = 1.0  # rows whose key is at or above it can no longer enter

    def add(self, rows: pa.Table | pa.RecordBatch) -> None:
        keys = self.rng.random(rows.num_rows)
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
        chosen = keys < self.threshold
        if not chosen.all():
            table, keys = table.filter(pa.array(chosen)), keys[chosen]
        if not len(keys):
            return
        self.parts.append(table)
        self.keys.append(keys)
        self.buffered += len(keys)
        self.buffered_bytes += table.nbytes
        if self.buffered >= self.size + self.size // 4 or self.buffered_bytes >= self.max_bytes * 5 // 4:
            self._cut()

    def _cut(self) -> None:
        table = pa.concat_tables(self.parts)
        keys = np.concatenate(self.keys)
        # As many rows as fit in max_bytes, at the width of those seen so far: decided before any
        # copy, so that the copy is the smaller sample (cutting first and shrinking after held
        # three times the bound at once).
        self.size = min(self.size, max(1, len(keys) * self.max_bytes // max(1, self.buffered_bytes)))
        if len(keys) > self.size:
            table, keys = self._smallest(table, keys, self.size)
        table = table.combine_chunks()
        self.parts, self.keys = [table], [keys]
        self.buffered, self.buffered_bytes = len(keys), table.nbytes

    def _smallest(self, table: pa.Table, keys: np.ndarray, k: int) -> tuple[pa.Table, np.ndarray]:
        keep = np.argpartition(keys, k - 1)[:k]
        self.threshold = float(keys[keep].max())
        return table.take(pa.array(keep)), keys[keep]

    def column(self, index: int) -> pa.Array | None:
        if not self.parts:
            return None
        if len(self.parts) > 1 or self.buffered > self.size:
            self._cut()
        return self.parts[0].column(index).combine_chunks()
