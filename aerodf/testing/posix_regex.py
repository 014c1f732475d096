"""POSIX regexes as a real Aerospike server runs them: glibc ``regcomp`` / ``regexec``.

The server (``as/src/base/exp.c``, ``build_cmp_regex``) hands the client's
flags to ``regcomp`` unchanged and matches with ``regexec(re, s, 0, NULL, 0)``.
So the semantics are glibc's, in the C locale (the server never calls
``setlocale``), and the flags are glibc's bit values, *not* the clients'
constants: ``1`` REG_EXTENDED, ``2`` REG_ICASE, ``4`` REG_NEWLINE, ``8``
REG_NOSUB (the clients call 4 NOSUB and 8 NEWLINE; the server does not
translate). Without REG_EXTENDED a pattern is a *basic* regex, where
``\\+ \\? \\| \\( \\) \\{ \\}`` are the operators and ``+ ? | ( ) { }`` are
literal. Pattern and subject are C strings: both stop at their first NUL.

Python's :mod:`re` means something else (BRE/ERE differences, leftmost-longest
alternation, bracket expressions, back references), so this module calls the C
library through :mod:`ctypes`, on a C locale of its own (``uselocale``, per
thread). Where glibc is not available, :func:`available` is False and the
caller answers "unsupported" rather than guess.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

REG_EXTENDED, REG_ICASE, REG_NEWLINE, REG_NOSUB = 1, 2, 4, 8
_REGEX_T_SIZE = 256  # sizeof(regex_t) is 64 on 64-bit glibc; room to spare
_LC_ALL_MASK = 0x1FBF  # glibc: every LC_*_MASK but LC_ALL's own bit


class RegexError(ValueError):
    """``regcomp`` refused the pattern (the server answers PARAMETER_ERROR)."""


def _load():
    if not sys.platform.startswith("linux"):
        return None, None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()  # glibc only: musl and others differ in flags and syntax
    except (OSError, AttributeError):
        return None, None
    libc.regcomp.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    libc.regcomp.restype = ctypes.c_int
    libc.regexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
    libc.regexec.restype = ctypes.c_int
    libc.regerror.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    libc.regerror.restype = ctypes.c_size_t
    libc.regfree.argtypes = [ctypes.c_void_p]
    libc.regfree.restype = None
    libc.newlocale.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
    libc.newlocale.restype = ctypes.c_void_p
    libc.uselocale.argtypes = [ctypes.c_void_p]
    libc.uselocale.restype = ctypes.c_void_p
    c_locale = libc.newlocale(_LC_ALL_MASK, b"C", None)
    if not c_locale:
        return None, None
    return libc, c_locale


_LIBC, _C_LOCALE = _load()


def available() -> bool:
    """True when glibc's regex functions can be called (Linux with glibc)."""
    return _LIBC is not None


class PosixRegex:
    """One compiled pattern; :meth:`search` is ``regexec(...) == 0``.

    Parameters
    ----------
    pattern : bytes
        The pattern's bytes as the client sent them (cut at the first NUL).
    flags : int
        ``regcomp`` flags, glibc's bit values (see the module docstring).

    Raises
    ------
    RegexError
        When ``regcomp`` refuses the pattern.
    """

    __slots__ = ("_re", "_ok")

    def __init__(self, pattern: bytes, flags: int) -> None:
        if _LIBC is None:
            raise RuntimeError("POSIX regexes need glibc")
        self._ok = False
        self._re = ctypes.create_string_buffer(_REGEX_T_SIZE)
        cflags = ctypes.c_int(flags & 0xFFFFFFFF).value  # the server casts int64 flags to int
        old = _LIBC.uselocale(_C_LOCALE)
        try:
            rc = _LIBC.regcomp(self._re, pattern.split(b"\0", 1)[0], cflags)
        finally:
            _LIBC.uselocale(old)
        if rc != 0:
            msg = ctypes.create_string_buffer(256)
            _LIBC.regerror(rc, self._re, msg, len(msg))
            raise RegexError(f"regcomp error {rc}: {msg.value.decode(errors='replace')}")
        self._ok = True

    def search(self, subject: bytes) -> bool:
        """Whether the pattern matches somewhere in ``subject`` (cut at its first NUL)."""
        old = _LIBC.uselocale(_C_LOCALE)
        try:
            return _LIBC.regexec(self._re, subject, 0, None, 0) == 0  # c_char_p stops at a NUL
        finally:
            _LIBC.uselocale(old)

    def __del__(self) -> None:
        if getattr(self, "_ok", False) and _LIBC is not None:
            _LIBC.regfree(self._re)
            self._ok = False
