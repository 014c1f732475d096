"""aerodf's own Aerospike client for the read hot paths (the ``wire`` transport).

Built on :mod:`aerodf.protocol`, the codec the test server uses too:

- :mod:`.cluster`: seeds -> peers -> nodes, partition maps, connection pools;
- :mod:`.batch`: batch-index reads; :mod:`.scan`: partition scans and queries;
- :mod:`.walk`: finding the messages of an answer without a Python step per record;
- :mod:`.columns`: bin values -> Arrow arrays, field by field over all rows;
- :mod:`.expr`: pushed-down filters and index ranges as the server reads them.
"""
