"""Tolerances for comparing floating-point results in tests (one place, one reason).

``SUMS`` is for any result that depends on the order of a summation: sums and means over
arrays, BLAS dot products and matrix solves, optimizer paths, and values read back from a
fixture written by R. Those differ between CPUs and BLAS kernels (OpenBLAS picks a kernel per
processor: ``OPENBLAS_CORETYPE=Haswell`` and ``SkylakeX`` give different last bits) by a few
units in the last place per operation, about 1e-16 relative, growing with the number of terms.
1e-9 relative leaves six orders of magnitude for that, and is still a million times tighter
than any difference that would change a printed or reported number (4 significant digits).

A test that compares tighter than this must say why next to the comparison (e.g. an exact
identity on integers, or a closed form evaluated on scalars with no summation).
"""

SUMS = 1e-9
