"""`Refusal`: a service declined to do what was asked, for a reason people
can act on. `code` names the sentence in the front end's message catalogue
and `params` fill it; neither holds personal data unless the reply is ephemeral.
"""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, code: str, **params: object) -> None:
        super().__init__(f"{code} {params}" if params else code)
        self.code = code
        self.params = params
