from flexmigrate.cli import main

raise SystemExit(main())
