"""``python -m zerog_compute.cli``: the same as the ``zerog`` command."""

from . import main

raise SystemExit(main())
