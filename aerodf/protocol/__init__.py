"""Aerospike's wire format, written once.

Two users build on this package: the test server (:mod:`aerodf.testing`) and
aerodf's own columnar reader (:mod:`aerodf.transport.wire`). It depends on the
standard library and msgpack only, so either side can import it without
pulling in NumPy or a client library.

Modules
-------
constants   header flags, field / op / particle type codes
resultcodes the server's result codes, by name
framing     the 8-byte proto header, compression, whole-frame reads
message     the 22-byte data-message header, fields and ops
values      particle <-> Python value codec, Aerospike's msgpack dialect
digest      RIPEMD-160 key digests and partition ids
expcodes    filter-expression op codes and value types
info        info-protocol requests and replies
"""
