from clank_lan._frozen import run_main
from clank_lan.cli import main

raise SystemExit(run_main(main))
