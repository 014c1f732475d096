"""The optional compiled wire kernel (aerodf/wire/_kernel.c, issue 17).

Everything else is in pyproject.toml. The extension is optional: where it does
not compile (no C compiler, no Python headers) the install still succeeds and
aerodf runs its NumPy wire path (``aerodf.wire.kernel.AVAILABLE`` is False).
``AERODF_PURE_PYTHON=1`` at build time skips the build; at run time it makes
aerodf ignore a built kernel.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class optional_build_ext(build_ext):
    """build_ext that warns instead of failing."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # a compile or link error
            self._skip(exc)

    def _skip(self, exc):
        sys.stderr.write(f"aerodf: the compiled wire kernel was not built ({exc}); "
                         "the NumPy wire path will be used\n")


ext_modules = []
if os.environ.get("AERODF_PURE_PYTHON") != "1":
    extra = os.environ.get("AERODF_KERNEL_CFLAGS", "").split()
    ext_modules.append(Extension("aerodf.wire._kernel", ["aerodf/wire/_kernel.c"],
                                 extra_compile_args=["-O2", "-std=c99", *extra],
                                 extra_link_args=os.environ.get("AERODF_KERNEL_LDFLAGS", "").split()))

setup(ext_modules=ext_modules, cmdclass={"build_ext": optional_build_ext})
