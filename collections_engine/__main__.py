from collections_engine.cli import main

main()
