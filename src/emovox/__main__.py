import sys

from emovox.cli import main

sys.exit(main())
