"""aerodf: Aerospike <-> NumPy / Arrow / pandas / polars."""
