import sys

from emunet.cli import main

sys.exit(main())
