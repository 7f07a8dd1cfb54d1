import sys

from trigger_schedule.cli import main

sys.exit(main())
