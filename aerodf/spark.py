"""``aerodf.spark.register(spark)``: Spark's ``format("aerospike")`` (see :mod:`aerodf.scale.spark`).

Importing this module imports pyspark (``pip install "aerodf[spark]"``).
"""

from .scale.spark import AerospikeDataSource, AerospikeReader, AerospikeWriter, register

__all__ = ["register", "AerospikeDataSource", "AerospikeReader", "AerospikeWriter"]
