"""aerodf: Aerospike <-> NumPy, Arrow, pandas and polars.

Typed schemas compile to NumPy, Arrow, polars and pandas types; batch reads
stream records into typed columns in bounded chunks, with a bound on the
operations in flight; policies are immutable values.

>>> import aerodf
>>> schema = aerodf.Schema({"age": "int32", "name": "string", "emb": "vector<float32, 16>"})
>>> df = aerodf.read_batch(user_ids, schema, namespace="test", set="users",
...                        hosts="127.0.0.1:3000")                       # doctest: +SKIP
"""

from .client import Client, connect, read_batch
from .errors import (
    AerodfError, AerospikeServerError, BackpressureError, BinTypeError, ClientClosedError, ClusterConnectionError,
    ConfigError, DataError, FloatOverflowError, GenerationError, IncompatibleBinError, IntegerOverflowError,
    MissingValueError, OverloadError,
    RecordNotFoundError, RecordTooBigError, SchemaError, TimeoutError_ as TimeoutError,
)
from .inference import InferenceWarning, infer_schema
from .polars import explain, scan
from .query import iter_batches, read_query
from .policy import BatchPolicy, Exists, GenerationCheck, Policy, QueryPolicy, ReadPolicy, Replica, WritePolicy
from .scale import read_dask, read_ray, write_dask, write_ray
from .schema import Field, Schema, parse_type
from .write import WriteError, WriteReport, write_frame

__version__ = "0.1.0"


def __getattr__(name: str):
    # aerodf.spark (the Spark data source) imports pyspark: only when asked for
    if name == "spark":
        import importlib

        return importlib.import_module(".spark", __name__)
    raise AttributeError(f"module 'aerodf' has no attribute {name!r}")

__all__ = [
    # reading and writing
    "read_batch", "read_query", "iter_batches", "scan", "explain", "infer_schema", "InferenceWarning", "write_frame",
    "WriteReport",
    # scale-out (each engine imported when used; Spark: aerodf.spark.register)
    "read_ray", "read_dask", "write_ray", "write_dask",
    # connection
    "connect", "Client",
    # schema
    "Schema", "Field", "parse_type",
    # policies
    "Policy", "ReadPolicy", "BatchPolicy", "WritePolicy", "QueryPolicy", "Replica", "Exists", "GenerationCheck",
    # errors
    "AerodfError", "ConfigError", "SchemaError", "DataError", "BinTypeError", "IntegerOverflowError",
    "FloatOverflowError", "MissingValueError", "BackpressureError", "AerospikeServerError", "RecordNotFoundError",
    "TimeoutError",
    "ClusterConnectionError", "OverloadError", "RecordTooBigError", "GenerationError",
    "IncompatibleBinError", "WriteError", "ClientClosedError",
]
