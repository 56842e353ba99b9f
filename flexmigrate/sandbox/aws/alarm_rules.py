"""The AlarmRule of a CloudWatch composite alarm: parsed, and evaluated over alarm states.

The grammar is the one the CloudWatch API reference gives for ``PutCompositeAlarm``:

- ``ALARM(name)``, ``OK(name)``, ``INSUFFICIENT_DATA(name)`` are true when the named alarm is
  in that state; the name (or the alarm's ARN) may be surrounded with double quotes, but does
  not have to be;
- ``TRUE`` and ``FALSE``;
- ``AND``, ``OR`` and ``NOT``, and parentheses to group.

The reference does not spell out precedence; the usual one applies (NOT binds tighter than
AND, AND tighter than OR), which is also how its examples read. A rule names at most 100
alarms. A malformed rule is refused with the position of the token that could not be read,
as CloudWatch does ("Error in AlarmRule [Unsupported token ...]").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_CHILDREN = 100
_STATES = {"ALARM": "ALARM", "OK": "OK", "INSUFFICIENT_DATA": "INSUFFICIENT_DATA"}
_WORD = re.compile(r"[A-Z_]+")


class RuleError(ValueError):
    """The rule cannot be read; the message is the one CloudWatch's ValidationError carries."""


@dataclass(frozen=True)
class Rule:
    text: str
    names: tuple[str, ...]  # the alarms it references, by name, in order of appearance
    _evaluate: Callable[[Mapping[str, str]], bool]

    def evaluate(self, states: Mapping[str, str]) -> bool:
        """True when the rule holds for ``states`` (alarm name → state; a missing alarm is in
        no state, so every function of it is false)."""
        return self._evaluate(states)


def alarm_name(reference: str) -> str:
    """The alarm a rule reference means: a name, or an alarm ARN (``arn:…:alarm:NAME``)."""
    if reference.startswith("arn:") and ":alarm:" in reference:
        return reference.split(":alarm:", 1)[1]
    return reference


def parse(text: str) -> Rule:
    parser = _Parser(text)
    evaluate = parser.expression()
    parser.skip_space()
    if parser.position < len(text):
        raise parser.unsupported()
    names = tuple(dict.fromkeys(parser.names))
    if len(names) > MAX_CHILDREN:
        raise RuleError(
            f"Error in AlarmRule [the rule references {len(names)} alarms; "
            f"at most {MAX_CHILDREN} are allowed]"
        )
    return Rule(text, names, evaluate)


Evaluator = Callable[[Mapping[str, str]], bool]


def _in_state(name: str, state: str) -> Evaluator:
    return lambda states: states.get(name) == state


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.names: list[str] = []

    # expression := term (OR term)* ; term := factor (AND factor)* ;
    # factor := NOT factor | "(" expression ")" | TRUE | FALSE | STATE "(" name ")"
    def expression(self) -> Evaluator:
        parts = [self.term()]
        while self.keyword("OR"):
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda states: any(part(states) for part in parts)

    def term(self) -> Evaluator:
        parts = [self.factor()]
        while self.keyword("AND"):
            parts.append(self.factor())
        if len(parts) == 1:
            return parts[0]
        return lambda states: all(part(states) for part in parts)

    def factor(self) -> Evaluator:
        self.skip_space()
        if self.keyword("NOT"):
            inner = self.factor()
            return lambda states: not inner(states)
        if self.symbol("("):
            inner = self.expression()
            if not self.symbol(")"):
                raise self.unsupported()
            return inner
        if self.keyword("TRUE"):
            return lambda states: True
        if self.keyword("FALSE"):
            return lambda states: False
        for function, state in _STATES.items():
            if self.keyword(function, call=True):
                name = alarm_name(self.reference())
                self.names.append(name)
                return _in_state(name, state)
        raise self.unsupported()

    def reference(self) -> str:
        """The alarm inside ``FUNCTION(…)``, the opening parenthesis already read."""
        self.skip_space()
        text = self.text
        if self.position < len(text) and text[self.position] == '"':
            end = text.find('"', self.position + 1)
            if end < 0:
                raise self.unsupported()
            name = text[self.position + 1 : end]
            self.position = end + 1
            self.skip_space()
            if not self.symbol(")"):
                raise self.unsupported()
        else:
            end = text.find(")", self.position)
            if end < 0:
                raise self.unsupported()
            name = text[self.position : end].strip()
            self.position = end + 1
        if not name:
            raise RuleError(
                f"Error in AlarmRule [empty alarm name before char {self.position - 1}]"
            )
        return name

    def keyword(self, word: str, *, call: bool = False) -> bool:
        """Read ``word`` as a whole word (followed by ``(`` when ``call``)."""
        self.skip_space()
        found = _WORD.match(self.text, self.position)
        if found is None or found.group() != word:
            return False
        after = found.end()
        if call:
            rest = self.text[after:].lstrip()
            if not rest.startswith("("):
                return False
            after = len(self.text) - len(rest) + 1
        self.position = after
        return True

    def symbol(self, char: str) -> bool:
        self.skip_space()
        if self.text.startswith(char, self.position):
            self.position += 1
            return True
        return False

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def unsupported(self) -> RuleError:
        self.skip_space()
        if self.position >= len(self.text):
            return RuleError(f"Error in AlarmRule [Unexpected end of rule at char {self.position}]")
        found = _WORD.match(self.text, self.position)
        token = found.group() if found else self.text[self.position]
        return RuleError(
            f"Error in AlarmRule [Unsupported token '{token}' at char {self.position}]"
        )
