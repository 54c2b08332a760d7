"""Command-line entry points: argparse built in _parser(), main(argv=None) -> int."""
