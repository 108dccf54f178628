from collector_station.cli import main
import sys
sys.exit(main())
