"""`python -m podium`: the same as the `podium` console script."""

from podium.cli import main

raise SystemExit(main())
