from synctui.cli import main

raise SystemExit(main())
