"""aerodf's own Aerospike client for the read hot path (the ``wire`` transport).

Built on :mod:`aerodf.protocol`, the codec the test server uses too: a
cluster view with partition routing (:mod:`.cluster`) and batch reads
decoded straight into NumPy columns (:mod:`.batch`).
"""
