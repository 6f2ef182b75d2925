from clank_lan.cli import main

raise SystemExit(main())
