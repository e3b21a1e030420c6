"""`python -m chaosgate` runs the command line."""

from chaosgate.cli import main

if __name__ == "__main__":
    main()
