"""Pure protocol logic of the emulated 0G inference broker (no I/O, no chain access).

Modules: ``tokens`` (session-token validation), ``signing`` (response and settlement signatures, the
signature cache), ``billing`` (fees, unsettled rows, admission), ``ratelimit`` (per-user and global
limits) and ``paths`` (``/v1/proxy/*`` route classification).
"""
