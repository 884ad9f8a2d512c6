"""terminal: the terminal operating system -- BAPLIE, COARRI, COPRAR and CODECO in; bay plans,
moves and gate events out -- over filedrop, http or sql (README.md beside this file)."""

from ..common.domain import Domain, DomainAdapter

TERMINAL = Domain("terminal", format="edifact", receives=("vessel.*", "terminal.*"),
                  encode={"vessel.bayplan": "baplie", "terminal.move": "coarri",
                          "terminal.gate_event": "codeco"})


class TerminalAdapter(DomainAdapter):
    config_model = TERMINAL.settings("filedrop")


__all__ = ["TERMINAL", "TerminalAdapter"]
