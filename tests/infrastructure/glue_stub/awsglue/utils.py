"""`getResolvedOptions` as Glue resolves job arguments: every name asked for is required, Glue's
own arguments are accepted, anything else is ignored; a missing argument raises
GlueArgumentError."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

# Arguments the Glue runtime passes to every run besides the job's own.
GLUE_OWN = (
    "--job-bookmark-option",
    "--JOB_ID",
    "--JOB_RUN_ID",
    "--SECURITY_CONFIGURATION",
    "--TempDir",
    "--encryption-type",
)


class GlueArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise GlueArgumentError(message)


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    parser = _Parser()
    for own in GLUE_OWN:
        if own[2:] in options:
            raise RuntimeError(f"Using reserved arguments {own}")
        parser.add_argument(own, required=False)
    for option in options:
        parser.add_argument(f"--{option}", required=True)
    parsed, _ignored = parser.parse_known_args(list(args[1:]))
    return dict(vars(parsed))
